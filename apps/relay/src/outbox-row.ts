/** One row of a caller's nudge_outbox table (see packages/client for its migration). */
export interface OutboxRow {
  /** BIGSERIAL, as text (pg returns int8 as a string). */
  id: string;
  source: string;
  idempotencyKey: string;
  kind: string;
  subject: string | null;
  /** BIGINT, as text. */
  subjectVersion: string | null;
  payload: unknown;
}
