export { SendGuard, leaseFor, minimumLease, RECORD_BUDGET_MS } from "./send-guard";
export type { GuardedMessage, DeliveryOutcome, DeliverSteps, SendGuardOptions } from "./send-guard";
export { FAILPOINTS, noFailpoints } from "./failpoints";
export type { Failpoint, FailpointHook } from "./failpoints";
export { Reconciler } from "./reconciler";
export type { ReconcilerOptions, ReconcileCounts, NoEvidencePolicy } from "./reconciler";
export { OperatorDecisions } from "./operator-decisions";
export type { OperatorAction, OperatorDecisionResult } from "./operator-decisions";
