// The ops dashboard: Bull Board behind a login, and Nudge's own pages beside it.
export { runDashboard } from "./run-dashboard";
export type { RunningDashboard } from "./run-dashboard";
export { buildDashboard } from "./server";
export type { DashboardOptions } from "./server";
export { loadDashboardEnv } from "./env";
export type { DashboardEnv } from "./env";
export { hashPassword, verifyPassword, MIN_PASSWORD_LENGTH } from "./password";
