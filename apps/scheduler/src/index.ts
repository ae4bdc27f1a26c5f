export { runScheduler } from "./run-scheduler";
export { runPass } from "./scheduler-pass";
export type { PassDeps, PassResult } from "./scheduler-pass";
export { runDripPass } from "./drip-pass";
export type { DripPassDeps, DripPassResult } from "./drip-pass";
export { runOneOffPass } from "./one-off-pass";
export type { OneOffPassDeps, OneOffPassResult } from "./one-off-pass";
export { SCHEDULER_HEAP_MB, SCHEDULER_NODE_FLAGS } from "./heap-budget";
