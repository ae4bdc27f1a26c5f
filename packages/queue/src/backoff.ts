export const BACKOFF_TYPE = "nudge";

/** The largest delay between two attempts unless the catalog entry says otherwise. */
export const DEFAULT_MAX_BACKOFF_MS = 60_000;

/**
 * Retry delay: the error's own `retryAfterMs` when it has one (a provider's Retry-After on a 429, the rest of
 * another attempt's claim lease), else exponential from `baseMs` with +-20% jitter so that a fleet of retries after
 * an outage does not arrive in one wave, capped at `maxMs`. Attempts are not counted down: the message's deadline
 * ends the retries (see @nudge/send-guard), and the guard's `retryWithinMs` (a share of the time left before it)
 * caps the delay further, so that failures piling up over a job's life never push its next try past its deadline.
 */
export function backoffDelay(
  attemptsMade: number,
  baseMs: number,
  error?: Error,
  random: () => number = Math.random,
  maxMs: number = DEFAULT_MAX_BACKOFF_MS,
): number {
  const { retryAfterMs, retryWithinMs } = (error ?? {}) as { retryAfterMs?: unknown; retryWithinMs?: unknown };
  if (typeof retryAfterMs === "number" && retryAfterMs >= 0) return retryAfterMs;
  const exponential = Math.min(baseMs * 2 ** Math.min(Math.max(0, attemptsMade - 1), 30), maxMs);
  const delay = Math.round(exponential * (0.8 + 0.4 * random()));
  return typeof retryWithinMs === "number" && retryWithinMs >= 0 ? Math.min(delay, retryWithinMs) : delay;
}
