// The webhooks app: the providers' signed status callbacks, events and inbound replies, recorded in the evidence
// ledger; and the HTTP API for other services (/v1), beside them.
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
// The HTTP API for other services (/v1): its tokens (for `nudge tokens`), its request path and its OpenAPI document.
export { createApiToken, listApiTokens, revokeApiToken, parseScopes, hashApiToken, API_SCOPES } from "./v1/api-tokens";
export type { ApiScope, ApiTokenInfo, ApiPrincipal } from "./v1/api-tokens";
export { RequestAcceptor } from "./v1/request-acceptor";
export type { RequestAcceptorOptions } from "./v1/request-acceptor";
export { openApiDocument, openApiJson } from "./v1/openapi-document";
export { IDEMPOTENCY_LEASE_MS } from "./v1/idempotency-store";
