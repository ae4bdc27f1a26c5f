import { InvalidNudgeRequestError, type NudgeRequest, parseOutboxRow } from "@nudge/client";
import type { OutboxRow } from "./outbox-row";

export type CheckResult = { ok: true; request: NudgeRequest } | { ok: false; refusal: string };

/**
 * What an outbox row asks for, judged by the schemas the client wrote it with (@nudge/client's parseOutboxRow: key,
 * kind, payload, and the subject and version of an appointment request), or why it can never be applied, every
 * offending field named. Pure: no I/O.
 */
export function checkRequest(row: OutboxRow): CheckResult {
  try {
    const request = parseOutboxRow({
      source: row.source,
      idempotency_key: row.idempotencyKey,
      kind: row.kind,
      subject: row.subject,
      subject_version: row.subjectVersion,
      payload: row.payload,
    });
    return { ok: true, request };
  } catch (error) {
    if (error instanceof InvalidNudgeRequestError) return { ok: false, refusal: error.message };
    throw error;
  }
}
