/**
 * Named points in the send pipeline where the crash tests act on the worker for real: `kill` (SIGKILL: no cleanup,
 * no finally blocks) proves that each crash window ends in at most one send; `stop` (SIGSTOP, once: the test sends
 * SIGCONT) pauses a worker right there, as a starved or swapped-out host would. Off unless NODE_ENV=test.
 * Written `after-claim` (kill) or `after-claim:stop`.
 */
export const FAILPOINTS = ["after-crm-update", "after-db-advance", "after-claim", "after-send"] as const;
export type Failpoint = (typeof FAILPOINTS)[number];
export const FAILPOINT_SPECS = FAILPOINTS.flatMap((p) => [p, `${p}:stop`] as const);
export type FailpointSpec = (typeof FAILPOINT_SPECS)[number];
export type FailpointHook = (name: Failpoint) => void;

export const noFailpoints: FailpointHook = () => undefined;

export function armFailpoint(spec: FailpointSpec): FailpointHook {
  const [armed, action] = spec.split(":") as [Failpoint, "stop" | undefined];
  let stopped = false;
  return (name) => {
    if (name !== armed) return;
    if (action !== "stop") process.kill(process.pid, "SIGKILL");
    else if (!stopped) {
      stopped = true;
      process.kill(process.pid, "SIGSTOP");
    }
  };
}
