import type { RequestLimiter } from "@nudge/core";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { Redis } from "./connection";

const ROLLING_WINDOW_S = 10;

export interface RedisRequestLimiterOptions {
  /** A connection of the process's own choosing; the limiter sends one small script per request to it. */
  redis: Redis;
  /** The budget, in HubSpot's terms: requests per rolling 10 s, shared by every process using the same key. */
  requestsPerTenSeconds: number;
  /** The Redis key of the shared count, e.g. `${QUEUE_PREFIX}:hubspot-requests`: processes that share it share the budget. */
  key: string;
}

/**
 * How a rolling 10 s budget is kept with fixed windows, which is what rate-limiter-flexible counts (whole seconds:
 * its script sets the window's expiry with EX). Any rolling 10 s touches at most 10/d + 1 windows of d seconds, so
 * `points` per window, with points x (10/d + 1) <= budget, can never exceed the budget in any rolling 10 s. Of the
 * window lengths that divide 10 s, the one that lets most requests through wins: for 190, 17 per 1 s (170 per 10 s).
 */
export function fixedWindowsFor(requestsPerTenSeconds: number): { durationSeconds: number; points: number } {
  if (!Number.isInteger(requestsPerTenSeconds) || requestsPerTenSeconds < 2) {
    throw new Error(`requestsPerTenSeconds must be a whole number of at least 2, got ${requestsPerTenSeconds}`);
  }
  let best = { durationSeconds: ROLLING_WINDOW_S, points: Math.floor(requestsPerTenSeconds / 2) };
  for (const durationSeconds of [1, 2, 5]) {
    const windows = ROLLING_WINDOW_S / durationSeconds;
    const points = Math.floor(requestsPerTenSeconds / (windows + 1));
    if (points >= 1 && points * windows > best.points * (ROLLING_WINDOW_S / best.durationSeconds)) best = { durationSeconds, points };
  }
  return best;
}

/**
 * A request budget shared through Redis by every process that uses the same key: `acquire()` waits (never fails)
 * until one more request fits. Built on rate-limiter-flexible, a widely used and maintained library whose
 * count-and-expire is one atomic Lua script, rather than a hand-written script of our own to get right and keep.
 */
export class RedisRequestLimiter implements RequestLimiter {
  private readonly limiter: RateLimiterRedis;
  private readonly key: string;

  constructor(options: RedisRequestLimiterOptions) {
    const { durationSeconds, points } = fixedWindowsFor(options.requestsPerTenSeconds);
    this.limiter = new RateLimiterRedis({ storeClient: options.redis, keyPrefix: "", points, duration: durationSeconds });
    this.key = options.key;
  }

  async acquire(): Promise<void> {
    for (;;) {
      try {
        await this.limiter.consume(this.key);
        return;
      } catch (refusal) {
        // A RateLimiterRes is "the window is full" (anything else is Redis failing, the caller's to handle). Waiters
        // of every process wake when the window ends; a little jitter spreads their retries.
        if (!(refusal instanceof RateLimiterRes)) throw refusal;
        await new Promise((resolve) => setTimeout(resolve, refusal.msBeforeNext + Math.floor(Math.random() * 20)));
      }
    }
  }
}
