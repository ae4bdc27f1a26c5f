import type { ProviderReport } from "@nudge/db";
import { parseDeliveryId } from "./delivery-id";
import { quoted, storable } from "./form-fields";
import { ClientError } from "./http-errors";

/** Events after which SendGrid will not (or must not) mail the address again: it goes on Nudge's email opt-out list. */
export const SUPPRESSING_EVENTS: ReadonlySet<string> = new Set(["bounce", "dropped", "spamreport", "unsubscribe", "group_unsubscribe"]);

/**
 * Events in which the lead asks not to be mailed: they also stop the address's drip enrollments, on every channel. A
 * bounce or a drop only says the address does not take mail; the suppression keeps email off it, and the campaign's
 * SMS steps still go out.
 */
export const STOPPING_EVENTS: ReadonlySet<string> = new Set(["spamreport", "unsubscribe", "group_unsubscribe"]);

export interface SendGridEventReport {
  report: ProviderReport;
  /** For a suppressing event: the address and the opt-out's reason. */
  suppress?: { email: string; reason: string };
  /** For a stopping event: the address whose drip enrollments end, and the stop's reason. */
  stop?: { email: string; reason: string };
}

function text(event: Record<string, unknown>, name: string, where: string, required: boolean): string | undefined {
  const value = event[name];
  if (value === undefined || value === null || value === "") {
    if (required) throw new ClientError(400, `${where}.${name} is missing`);
    return undefined;
  }
  if (typeof value !== "string") throw new ClientError(400, `${where}.${name} must be a string`);
  if (value.length > 1000 || value.includes("\u0000")) throw new ClientError(400, `${where}.${name} ${quoted(value)} is not a SendGrid value`);
  return value;
}

/**
 * SendGrid's Event Webhook batch as reports, all checked before any is recorded, so that a refused batch leaves
 * nothing half-written. Every event SendGrid posts has `event` and `sg_event_id` (the event key: a retried batch
 * repeats it); custom_args arrive flattened into the event, so Nudge's `deliveryId` is a top-level field; the
 * X-Message-Id that Nudge recorded at the send is `sg_message_id` up to its first ".".
 */
export function sendGridEventReports(body: unknown): SendGridEventReport[] {
  if (!Array.isArray(body)) throw new ClientError(400, "expected a JSON array of SendGrid events");
  return body.map((entry: unknown, index) => {
    const where = `events[${index}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw new ClientError(400, `${where} is not an event object`);
    const event = entry as Record<string, unknown>;
    const name = text(event, "event", where, true)!.toLowerCase();
    const eventId = text(event, "sg_event_id", where, true)!;
    const messageId = text(event, "sg_message_id", where, false)?.split(".")[0];
    const deliveryId = parseDeliveryId(event.deliveryId ?? undefined, `${where}.deliveryId`);
    const detail = text(event, "reason", where, false) ?? text(event, "response", where, false);
    const report: ProviderReport = {
      provider: "sendgrid",
      eventKey: eventId,
      deliveryId,
      providerMessageId: messageId || undefined,
      status: name,
      detail: detail === undefined ? undefined : storable(detail),
    };
    if (!SUPPRESSING_EVENTS.has(name)) return { report };
    const email = text(event, "email", where, true)!.trim();
    const suppress = { email, reason: storable(detail === undefined ? name : `${name}: ${detail}`) };
    return STOPPING_EVENTS.has(name) ? { report, suppress, stop: { email, reason: `opted out by email (${name})` } } : { report, suppress };
  });
}
