export { runReconciler } from "./run-reconciler";
export { loadReconcilerEnv } from "./env";
export type { ReconcilerEnv } from "./env";
