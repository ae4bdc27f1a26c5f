import { checkPostgres } from "@nudge/db";
import { checkRedis } from "@nudge/queue";

/** Both at once: the wait is bounded by the slower check, not their sum. The first failure is the one reported. */
export async function checkServers(urls: { DATABASE_URL: string; REDIS_URL: string }): Promise<void> {
  await Promise.all([checkPostgres(urls.DATABASE_URL), checkRedis(urls.REDIS_URL)]);
}
