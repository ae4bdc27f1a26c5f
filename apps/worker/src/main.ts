import { checkPostgres } from "@nudge/db";
import { checkRedis } from "@nudge/queue";
import { loadWorkerEnv } from "./env";
import { runWorker } from "./run-worker";

// The servers are checked before runWorker opens its connections, which retry forever: started with Redis down, the
// worker would otherwise wait silently instead of saying which server to start. Once running, it rides out restarts.
async function main(): Promise<void> {
  const env = loadWorkerEnv();
  await Promise.all([checkPostgres(env.DATABASE_URL), checkRedis(env.REDIS_URL)]);
  await runWorker();
}

main().catch((error: unknown) => {
  console.error(`worker: ${(error as Error).message}`);
  process.exit(1);
});
