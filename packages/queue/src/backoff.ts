export const BACKOFF_TYPE = "nudge";

/** The largest delay between two attempts unless the catalog entry says otherwise. */
export const DEFAULT_MAX_BACKOFF_MS = 60_000;

/**
 * Retry delay: the error's own `retryAfterMs` when it has one (a provider's Retry-After on a 429, the rest of
 * another attempt's claim lease), else exponential from `baseMs` with +-20% jitter so that a fleet of retries after
 * an outage does not arrive in one wave, capped at `maxMs`. Attempts are not counted down: the message's deadline
 * ends the retries (see @nudge/send-guard), so the cap keeps a long outage from pushing the next try past it.
 */
export function backoffDelay(
  attemptsMade: number,
  baseMs: number,
  error?: Error,
  random: () => number = Math.random,
  maxMs: number = DEFAULT_MAX_BACKOFF_MS,
): number {
  const retryAfterMs = (error as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  if (typeof retryAfterMs === "number" && retryAfterMs >= 0) return retryAfterMs;
  const exponential = Math.min(baseMs * 2 ** Math.min(Math.max(0, attemptsMade - 1), 30), maxMs);
  return Math.round(exponential * (0.8 + 0.4 * random()));
}
