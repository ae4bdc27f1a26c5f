export { runScheduler } from "./run-scheduler";
export { runPass } from "./scheduler-pass";
export type { PassDeps, PassResult } from "./scheduler-pass";
