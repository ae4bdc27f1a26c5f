export { runRelay } from "./run-relay";
export { loadRelayEnv } from "./env";
export { RELAY_NODE_FLAGS, RELAY_SEMI_SPACE_MB } from "./young-generation";
export type { RelayEnv, RelaySource } from "./env";
// The one path by which a caller's request becomes rows in Nudge's database and jobs in Redis, shared with the
// HTTP API (apps/api), which accepts the same requests over HTTP.
export { RequestApplier } from "./request-applier";
export type { ApplyResult, RequestApplierOptions } from "./request-applier";
export { checkRequest } from "./check-request";
export type { CheckResult } from "./check-request";
export type { OutboxRow } from "./outbox-row";
export { OneOffEnqueuer } from "./one-off-enqueuer";
export type { OneOffEnqueuerOptions } from "./one-off-enqueuer";
