import type { RateLimitPolicy } from "./hubspot-replies";

const WINDOW_MS = 10_000;
const DAY_MS = 86_400_000;

export interface RateLimited {
  at: string;
  policyName: RateLimitPolicy;
}

/** What a test can read about the portal's load: requests answered and every 429 the limits gave (faults aside). */
export interface HubSpotUsage {
  /** Requests that reached the portal with a valid token (fault-injected ones aside), 429s included. */
  requests: number;
  /** Requests that counted against the limits: the ones answered without a 429. */
  counted: number;
  rateLimited: RateLimited[];
}

export type LimitVerdict = { allowed: true; headers: Record<string, string> } | { allowed: false; policyName: RateLimitPolicy; retryAfterSeconds: number; headers: Record<string, string> };

/**
 * HubSpot's two limits on a private app's token: requests per rolling 10 s (TEN_SECONDLY_ROLLING) and per day
 * (DAILY; HubSpot resets it at midnight in the portal's time zone, here UTC). A refused request does not count.
 */
export class HubSpotRateLimits {
  /** Per token: times of the counted requests of the last 10 s, oldest first. */
  private recent = new Map<string, number[]>();
  private daily = new Map<string, { day: number; count: number }>();
  private usage: HubSpotUsage = { requests: 0, counted: 0, rateLimited: [] };

  constructor(private readonly limits: () => { perTenSeconds: number | null; perDay: number | null }) {}

  check(token: string, now = Date.now()): LimitVerdict {
    this.usage.requests++;
    const { perTenSeconds, perDay } = this.limits();
    const day = Math.floor(now / DAY_MS);
    const daily = this.daily.get(token);
    const usedToday = daily && daily.day === day ? daily.count : 0;
    let times = this.recent.get(token);
    if (!times) this.recent.set(token, (times = []));
    while (times.length > 0 && times[0]! <= now - WINDOW_MS) times.shift();
    const headers = limitHeaders(perTenSeconds, times.length, perDay, usedToday);
    if (perDay !== null && usedToday >= perDay) {
      return this.refuse("DAILY", ((day + 1) * DAY_MS - now) / 1000, headers, now);
    }
    if (perTenSeconds !== null && times.length >= perTenSeconds) {
      // The window frees a slot when the oldest counted request leaves it.
      return this.refuse("TEN_SECONDLY_ROLLING", (times[0]! + WINDOW_MS - now) / 1000, headers, now);
    }
    // Without a limit there is nothing to count against (and a benchmark's thousands of requests stay cheap).
    if (perTenSeconds !== null) times.push(now);
    this.daily.set(token, { day, count: usedToday + 1 });
    this.usage.counted++;
    return { allowed: true, headers: limitHeaders(perTenSeconds, times.length, perDay, usedToday + 1) };
  }

  usageReport(): HubSpotUsage {
    return { ...this.usage, rateLimited: this.usage.rateLimited.map((r) => ({ ...r })) };
  }

  reset(): void {
    this.recent.clear();
    this.daily.clear();
    this.usage = { requests: 0, counted: 0, rateLimited: [] };
  }

  private refuse(policyName: RateLimitPolicy, retryAfterSeconds: number, headers: Record<string, string>, now: number): LimitVerdict {
    this.usage.rateLimited.push({ at: new Date(now).toISOString(), policyName });
    return { allowed: false, policyName, retryAfterSeconds, headers };
  }
}

/** HubSpot's X-HubSpot-RateLimit-* headers, for the limits that are set. */
function limitHeaders(perTenSeconds: number | null, usedInWindow: number, perDay: number | null, usedToday: number): Record<string, string> {
  const headers: Record<string, string> = {};
  if (perTenSeconds !== null) {
    headers["X-HubSpot-RateLimit-Max"] = String(perTenSeconds);
    headers["X-HubSpot-RateLimit-Remaining"] = String(Math.max(0, perTenSeconds - usedInWindow));
    headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = String(WINDOW_MS);
  }
  if (perDay !== null) {
    headers["X-HubSpot-RateLimit-Daily"] = String(perDay);
    headers["X-HubSpot-RateLimit-Daily-Remaining"] = String(Math.max(0, perDay - usedToday));
  }
  return headers;
}
