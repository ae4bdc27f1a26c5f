import { deletePrefix, TEST_REDIS_URL, testQueuePrefix } from "@nudge/testing";
import { createRedis, fixedWindowsFor, RedisRequestLimiter, type Redis } from "../src";

describe("fixedWindowsFor: a rolling 10 s budget kept with fixed windows", () => {
  it.each([190, 100, 22, 5, 2])("never lets more than %i through in any rolling 10 s, and most of it", (budget) => {
    const { durationSeconds, points } = fixedWindowsFor(budget);
    const windows = 10 / durationSeconds;
    expect(points * (windows + 1)).toBeLessThanOrEqual(budget);
    expect(points * windows).toBeGreaterThanOrEqual(Math.floor(budget / 2));
  });

  it("190 per 10 s: 17 per second", () => {
    expect(fixedWindowsFor(190)).toEqual({ durationSeconds: 1, points: 17 });
  });

  it("refuses a budget it cannot keep", () => {
    expect(() => fixedWindowsFor(1)).toThrow(/at least 2/);
  });
});

describe("RedisRequestLimiter across processes", () => {
  const prefix = testQueuePrefix();
  const connections: Redis[] = [];
  const connect = () => {
    const redis = createRedis(TEST_REDIS_URL);
    connections.push(redis);
    return redis;
  };
  afterAll(async () => {
    for (const redis of connections) redis.disconnect();
    await deletePrefix(prefix);
  });

  it("two limiters on one key share the budget, and acquire waits instead of failing", async () => {
    // 33 per 10 s: 3 per 1 s window. Two "processes" (two connections) ask for 9 requests at once.
    const key = `${prefix}:hubspot-requests`;
    const limiters = [connect(), connect()].map((redis) => new RedisRequestLimiter({ redis, requestsPerTenSeconds: 33, key }));
    const started = Date.now();
    const granted = await Promise.all(Array.from({ length: 9 }, (_, i) => limiters[i % 2]!.acquire().then(() => Date.now() - started)));
    granted.sort((a, b) => a - b);
    // The first window lets 3 through at once; the others wait for the next windows.
    expect(granted.slice(0, 3).every((ms) => ms < 500)).toBe(true);
    expect(granted.filter((ms) => ms < 900)).toHaveLength(3);
    expect(granted[8]).toBeGreaterThanOrEqual(1_900);
    expect(granted[8]).toBeLessThan(4_000);
    // Never more than 3 in any 1 s.
    for (const at of granted) expect(granted.filter((t) => t >= at && t < at + 1000).length).toBeLessThanOrEqual(3);
  });
});
