import { backoffDelay } from "@nudge/queue";

/**
 * How long the relay waits before trying again after `failures` failures in a row of something that is down (Nudge's
 * database, a source database, Redis): exponential from 250 ms, jittered, capped at 30 s. One policy for the relay's
 * batch loops, its LISTEN connection and its enqueuer, so that an outage is retried alike everywhere.
 */
export function outageRetryDelayMs(failures: number): number {
  return backoffDelay(failures, 250, undefined, Math.random, 30_000);
}
