import { quoted } from "./form-fields";
import { ClientError } from "./http-errors";

/** One address, local@domain: no spaces, brackets or separators, at most 254 characters (SMTP's limit for a path). */
const ADDRESS = /^[^\s@<>()[\]",;:\\]+@[^\s@<>()[\]",;:\\]+$/;

function address(value: string): string | undefined {
  // "Jane Doe <jane@example.com>" or a bare address. The last <...> is the address: a display name may hold brackets
  // of its own only quoted, before it.
  const bracketed = /<([^<>]*)>\s*$/.exec(value);
  const candidate = (bracketed ? bracketed[1]! : value).trim();
  return candidate.length <= 254 && ADDRESS.test(candidate) ? candidate : undefined;
}

/**
 * The sender of an email SendGrid's Inbound Parse received: the SMTP envelope's sender (`envelope`, JSON, as
 * SendGrid posts it: {"to": [...], "from": "..."}), else the address in the From header (`from`). The envelope comes
 * first because it is what the sending server gave, where the header is whatever the message says; neither is
 * authenticated, which is acceptable here because a forged sender can only stop messages, never cause one.
 * A bounce's envelope sender is empty ("<>"), so the header is the fallback, not an error.
 * No sender in either: a ClientError (400) naming what was there.
 */
export function inboundEmailSender(fields: { envelope?: string | undefined; from?: string | undefined }): string {
  let envelopeFrom: unknown;
  if (fields.envelope !== undefined && fields.envelope.trim() !== "") {
    let envelope: unknown;
    try {
      envelope = JSON.parse(fields.envelope);
    } catch {
      throw new ClientError(400, `envelope ${quoted(fields.envelope)} is not JSON (SendGrid posts {"to": [...], "from": "..."})`);
    }
    if (typeof envelope !== "object" || envelope === null || Array.isArray(envelope)) {
      throw new ClientError(400, `envelope must be a JSON object with "from", got ${quoted(fields.envelope)}`);
    }
    envelopeFrom = (envelope as Record<string, unknown>).from;
    if (envelopeFrom !== undefined && envelopeFrom !== null && typeof envelopeFrom !== "string") {
      throw new ClientError(400, "envelope.from must be a string");
    }
  }
  const fromEnvelope = typeof envelopeFrom === "string" ? address(envelopeFrom) : undefined;
  if (fromEnvelope) return fromEnvelope;
  const fromHeader = fields.from === undefined ? undefined : address(fields.from);
  if (fromHeader) return fromHeader;
  const envelopeSaid = typeof envelopeFrom === "string" && envelopeFrom.trim() !== "" ? `envelope.from ${quoted(envelopeFrom)} is not an address` : "envelope.from is missing or empty";
  const headerSaid = fields.from === undefined || fields.from.trim() === "" ? "from is missing" : `from ${quoted(fields.from)} has no address`;
  throw new ClientError(400, `no sender: ${envelopeSaid} and ${headerSaid}`);
}
