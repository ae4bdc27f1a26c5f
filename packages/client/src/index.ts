export { createNudgeClient } from "./nudge-client";
export type {
  NudgeClient,
  NudgeClientOptions,
  NudgeOutbox,
  OutboxWriteResult,
  VersionOptions,
  RequestOptionsArgs,
  EmailMessage,
  SmsMessage,
} from "./nudge-client";
export { requestSchemas, REQUEST_KINDS, VERSIONED_KINDS, isRequestKind } from "./request-kinds";
export type { RequestKind, VersionedKind, PayloadOf } from "./request-kinds";
export { contactRefSchema, externalIdSchema } from "./contact-ref";
export type { ContactRef } from "./contact-ref";
export { idempotencyKeySchema } from "./idempotency-key";
export { sourceNameSchema, campaignIdSchema } from "./source-name";
export type { SubjectVersion } from "./subject-version";
export type { NudgeRequest } from "./nudge-request";
export { parseOutboxRow } from "./outbox-row";
export type { OutboxRow } from "./outbox-row";
export { outboxMigrationSql, OUTBOX_TABLE, OUTBOX_CHANNEL } from "./outbox-migration";
export type { OutboxTransaction, PgQueryable, PrismaTransactionLike } from "./outbox-transaction";
export { InvalidNudgeRequestError } from "./invalid-request-error";
