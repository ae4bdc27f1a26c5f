import { FAILPOINTS, type Failpoint, type FailpointHook } from "@nudge/send-guard";

/**
 * Arms one of the send guard's failpoints from NUDGE_FAILPOINT (NODE_ENV=test only): `kill` (SIGKILL: no cleanup, no
 * finally blocks) proves that each crash window ends in at most one send; `stop` (SIGSTOP, once: the test sends
 * SIGCONT) pauses the worker right there, as a starved or swapped-out host would. Written `after-claim` (kill) or
 * `after-claim:stop`.
 */
export const FAILPOINT_SPECS = FAILPOINTS.flatMap((p) => [p, `${p}:stop`] as const);
export type FailpointSpec = (typeof FAILPOINT_SPECS)[number];

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
