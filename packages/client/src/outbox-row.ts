import { InvalidNudgeRequestError } from "./invalid-request-error";
import { checkRequest, type NudgeRequest } from "./nudge-request";

/** An outbox row as a driver returns it: pg gives BIGINT as text, Prisma as bigint; JSONB arrives parsed. */
export interface OutboxRow {
  source: unknown;
  idempotency_key: unknown;
  kind: unknown;
  subject: unknown;
  subject_version: unknown;
  payload: unknown;
}

/**
 * For the relay: the request an outbox row holds, checked by the schemas the client wrote it with. A row that fails
 * (written by hand, by an older or newer client, or edited) throws InvalidNudgeRequestError, whose message says why:
 * the relay records it as refused with that reason instead of acting on it.
 */
export function parseOutboxRow(row: OutboxRow): NudgeRequest {
  const request = checkRequest({
    source: row.source,
    kind: row.kind,
    key: row.idempotency_key,
    payload: row.payload,
    version: row.subject_version,
    versionField: "subject_version",
    versionFromDatabase: true,
  });
  // The subject is derived from the payload; a row whose stored subject disagrees was not written by this client,
  // and applying it could change a different subject than the one its version was meant for.
  if ((row.subject ?? null) !== request.subject) {
    throw new InvalidNudgeRequestError(request.kind, row.idempotency_key, [
      `subject: the payload makes it ${JSON.stringify(request.subject)}, the row says ${JSON.stringify(row.subject)}`,
    ]);
  }
  return request;
}
