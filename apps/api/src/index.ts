// The webhooks app: the providers' signed status callbacks, events and inbound replies, recorded in the evidence
// ledger. The public HTTP API joins it later as further route plugins.
export { buildWebhooks } from "./webhooks";
export type { WebhookDeps, WebhooksApp } from "./webhooks";
export { runApi } from "./run-api";
export type { RunningApi } from "./run-api";
export { loadApiEnv, DEFAULT_SMS_HELP_TEXT } from "./env";
export type { ApiEnv } from "./env";
export { TWILIO_BODY_LIMIT } from "./routes/twilio.routes";
export { SENDGRID_BODY_LIMIT } from "./routes/sendgrid.routes";
export { SENDGRID_INBOUND_PATH } from "./routes/sendgrid-inbound.routes";
export type { EnrollmentStops } from "./enrollment-stops";
