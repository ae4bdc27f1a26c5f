import { NotAcceptedError } from "@nudge/core";

export const BACKOFF_TYPE = "nudge";

/**
 * Retry delay: the provider's Retry-After when it gave one (a 429), else exponential from `baseMs` with +-20% jitter
 * so that a fleet of retries after an outage does not arrive in one wave. Capped at 10 minutes.
 */
export function backoffDelay(attemptsMade: number, baseMs: number, error?: Error, random: () => number = Math.random): number {
  if (error instanceof NotAcceptedError && error.retryAfterMs !== undefined) return error.retryAfterMs;
  const exponential = Math.min(baseMs * 2 ** Math.max(0, attemptsMade - 1), 600_000);
  return Math.round(exponential * (0.8 + 0.4 * random()));
}
