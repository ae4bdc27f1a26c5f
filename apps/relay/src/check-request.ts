import { type CheckedRequest, REQUEST_KINDS, type RequestKind, requestSchemas } from "./request-schemas";
import type { OutboxRow } from "./outbox-row";

export type CheckResult = { ok: true; request: CheckedRequest; version: bigint | null } | { ok: false; refusal: string };

const isKind = (kind: string): kind is RequestKind => Object.hasOwn(requestSchemas, kind);

/**
 * What a request asks for, or why it can never be applied: an unknown kind, a payload that fails its kind's schema
 * (every offending field named), or an appointment request without its subject and version. Pure: no I/O.
 */
export function checkRequest(row: OutboxRow): CheckResult {
  if (!isKind(row.kind)) return { ok: false, refusal: `unknown kind ${JSON.stringify(row.kind)} (known: ${REQUEST_KINDS.join(", ")})` };
  const parsed = requestSchemas[row.kind].safeParse(row.payload);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join(".") || "(payload)"}: ${i.message}`);
    return { ok: false, refusal: `invalid ${row.kind} payload: ${fields.join("; ")}` };
  }
  const request = { kind: row.kind, payload: parsed.data } as CheckedRequest;
  let version: bigint | null = null;
  if (row.subjectVersion !== null) {
    try {
      version = BigInt(row.subjectVersion);
    } catch {
      return { ok: false, refusal: `subject_version ${JSON.stringify(row.subjectVersion)} is not a whole number` };
    }
  }
  if (request.kind.startsWith("appointment.")) {
    // The version rule (an older change never overrides a newer one) needs both: without them a cancel relayed before
    // its create could be overridden by it.
    const expected = `appointment:${(request.payload as { appointmentId: string }).appointmentId}`;
    if (row.subject !== expected) return { ok: false, refusal: `subject must be ${JSON.stringify(expected)} for this request, got ${JSON.stringify(row.subject)}` };
    if (version === null) return { ok: false, refusal: `an ${request.kind} request needs a subject_version (its appointment's version)` };
  }
  return { ok: true, request, version };
}
