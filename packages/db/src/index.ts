export { createDb, sqlPool } from "./client";
export type { Db } from "./client";
export { DeliveryLedger } from "./delivery-ledger";
export type { DeliveryRecord, DeliverySource, NewDelivery, CancelResult, Queryable } from "./delivery-ledger";
export { ClaimLedger } from "./claim-ledger";
export type { ClaimResult, UnresolvedDelivery } from "./claim-ledger";
export {
  resetReminderBookmarks,
  findReminderCandidates,
  findLostReminders,
  saveReminderBookmarks,
  loadReminderTarget,
  recipientFor,
  databaseNow,
  saveContactCrmId,
} from "./reminder-queries";
export type { LostReminder, ReminderCandidate, ReminderBookmark, ReminderTarget } from "./reminder-queries";
export { migrate, ensureDatabase, assertMigrated, MIGRATIONS_DIR } from "./migrate";
export type { MigrationResult } from "./migrate";
export { checkPostgres, PostgresUnavailableError } from "./preflight";
export { assertProductionClock } from "./production-clock";
export { EvidenceLedger } from "./evidence-ledger";
export type { ProviderReport, ReportOutcome } from "./evidence-ledger";
export { loadOneOffTarget, findUnenqueuedOneOffs, markOneOffsEnqueued, resetOneOffBookmarks, findStaleHandoffs, deleteHandoffs, jobMayBeMissing, type OneOffHandoff } from "./one-off-queries";
export type { OneOffTarget } from "./one-off-queries";
export { DashboardStore } from "./dashboard-store";
export type {
  AuditEntry,
  AwaitingDecision,
  DashboardRole,
  DashboardUser,
  LedgerFilter,
  LedgerRow,
  SessionUser,
  Timeline,
  TimelineEvent,
  TimelineMessage,
} from "./dashboard-store";
