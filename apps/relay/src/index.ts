export { runRelay } from "./run-relay";
export { loadRelayEnv } from "./env";
export type { RelayEnv, RelaySource } from "./env";
