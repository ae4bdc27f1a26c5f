/**
 * Named points of the relay where crash tests SIGKILL it for real (NUDGE_RELAY_FAILPOINT, NODE_ENV=test only):
 *  - `after-nudge-write`: a request is committed in Nudge's database, its outbox row is not yet marked relayed;
 *  - `after-outbox-mark`: the outbox rows are marked relayed, their one-off jobs are not yet enqueued.
 * Each must end with every request applied exactly once and every one-off message enqueued.
 */
export const RELAY_FAILPOINTS = ["after-nudge-write", "after-outbox-mark"] as const;
export type RelayFailpoint = (typeof RELAY_FAILPOINTS)[number];
/** Awaited at each point; resolves at once unless armed. */
export type RelayFailpointHook = (name: RelayFailpoint) => Promise<void>;

export const noFailpoints: RelayFailpointHook = async () => undefined;

export function armFailpoint(armed: RelayFailpoint): RelayFailpointHook {
  return (name) => {
    if (name !== armed) return Promise.resolve();
    // SIGKILL: no cleanup, no finally blocks, no ROLLBACK sent; the promise never settles so that nothing after the
    // point runs while the signal is delivered.
    process.kill(process.pid, "SIGKILL");
    return new Promise<void>(() => undefined);
  };
}
