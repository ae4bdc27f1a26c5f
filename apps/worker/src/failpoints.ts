/**
 * Named points in the reminder pipeline where the crash tests kill the worker for real (SIGKILL: no cleanup, no
 * finally blocks), to prove that each crash window ends in at most one send. Off unless NODE_ENV=test.
 */
export const FAILPOINTS = ["after-crm-update", "after-db-advance", "after-send"] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

export type FailpointHook = (name: Failpoint) => void;

export const noFailpoints: FailpointHook = () => undefined;

export function killAt(armed: Failpoint): FailpointHook {
  return (name) => {
    if (name === armed) process.kill(process.pid, "SIGKILL");
  };
}
