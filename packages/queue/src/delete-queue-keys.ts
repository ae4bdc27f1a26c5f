import type { Redis } from "ioredis";

/** Deletes every Redis key under a queue prefix (a demo reset, a test's cleanup). Never used on a live fleet. */
export async function deleteQueueKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length) deleted += await redis.del(...keys);
  } while (cursor !== "0");
  return deleted;
}
