import { randomBytes } from "node:crypto";
import IORedis from "ioredis";
import { TEST_REDIS_URL } from "./env";

/** A queue prefix of the test's own, so that files never see each other's jobs. */
export function testQueuePrefix(): string {
  return `nudgetest-${randomBytes(4).toString("hex")}`;
}

/** Deletes every key under a prefix (the test's cleanup; FLUSHALL is reserved for the test that simulates data loss). */
export async function deletePrefix(prefix: string, url: string = TEST_REDIS_URL): Promise<void> {
  const redis = new IORedis(url, { maxRetriesPerRequest: null });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
