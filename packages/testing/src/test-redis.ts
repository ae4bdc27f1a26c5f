import { randomBytes } from "node:crypto";
import { createRedis, deleteQueueKeys } from "@nudge/queue";
import { TEST_REDIS_URL } from "./env";

/** A queue prefix of the test's own, so that files never see each other's jobs. */
export function testQueuePrefix(): string {
  return `nudgetest-${randomBytes(4).toString("hex")}`;
}

/** Deletes every key under a prefix (the test's cleanup; FLUSHALL is reserved for the test that simulates data loss). */
export async function deletePrefix(prefix: string, url: string = TEST_REDIS_URL): Promise<void> {
  const redis = createRedis(url);
  try {
    await deleteQueueKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}
