import { assertMigrated, assertProductionClock, checkPostgres, createDb } from "@nudge/db";
import { onShutdown } from "@nudge/lifecycle";
import { createLogger } from "@nudge/logger";
import { checkRedis, createQueue, createRedis, createReminderQueue } from "@nudge/queue";
import { runDripPass } from "./drip-pass";
import { runOneOffPass } from "./one-off-pass";
import { loadSchedulerEnv } from "./env";
import { reportHeapBudget } from "./heap-budget";
import { runPass } from "./scheduler-pass";

/**
 * `once`: one pass and exit (for a system cron: `*\/5 * * * * npm run tick`). Otherwise: a pass every
 * SCHEDULER_INTERVAL_MS until SIGTERM. Either way, overlapping or repeated passes are harmless.
 */
export async function runScheduler(options: { once: boolean }): Promise<void> {
  const { once } = options;
  const env = loadSchedulerEnv();
  const logger = createLogger("scheduler", env.LOG_LEVEL);
  // Before anything opens a connection: the queue's Redis connection retries forever, so with Redis down a cron
  // pass would never exit. Both servers are checked at once, so that the wait is bounded by the slower check.
  await Promise.all([checkPostgres(env.DATABASE_URL), checkRedis(env.REDIS_URL)]);
  await assertMigrated(env.DATABASE_URL);
  const db = createDb(env.DATABASE_URL, { poolSize: 4 });
  if (env.NODE_ENV !== "test") await assertProductionClock(db);
  // Once start-up can no longer fail; long-running only: a one-pass run (cron) exits after its pass.
  if (!once) reportHeapBudget(logger);
  const connection = createRedis(env.REDIS_URL);
  const queue = createReminderQueue(connection, env.QUEUE_PREFIX);
  const dripQueue = createQueue("drip", connection, env.QUEUE_PREFIX);
  const oneOffQueue = createQueue("one-off", connection, env.QUEUE_PREFIX);
  const deps = {
    db,
    queue,
    redis: connection,
    plan: env.REMINDER_PLAN,
    logger,
    batchSize: env.SCHEDULER_BATCH_SIZE,
    fullSweepMs: env.SCHEDULER_SWEEP_MS,
    abandonedAfterMs: env.SCHEDULER_ABANDONED_AFTER_MS,
    backoffMs: env.JOB_BACKOFF_MS,
  };
  const dripDeps = {
    db,
    queue: dripQueue,
    redis: connection,
    logger,
    batchSize: env.SCHEDULER_BATCH_SIZE,
    fullSweepMs: env.SCHEDULER_SWEEP_MS,
    backoffMs: env.JOB_BACKOFF_MS,
  };
  // Reminders, drip steps and one-off messages in one pass, each on its own: one failing does not hold the others back.
  const passAll = async () => {
    const results = await Promise.allSettled([runPass(deps), runDripPass(dripDeps), runOneOffPass({ ...dripDeps, queue: oneOffQueue })]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length > 0) throw failed[0]!.reason;
  };
  const close = async () => {
    await Promise.all([queue.close(), dripQueue.close(), oneOffQueue.close()]);
    connection.disconnect();
    await db.$disconnect();
  };

  if (once) {
    try {
      await passAll();
    } finally {
      await close();
    }
    return;
  }

  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> = Promise.resolve();
  const tick = () => {
    current = passAll()
      .catch((error: unknown) => logger.error({ err: (error as Error).message }, "scheduler pass failed; next pass retries"))
      .finally(() => {
        timer = setTimeout(tick, env.SCHEDULER_INTERVAL_MS);
      });
  };
  logger.info({ intervalMs: env.SCHEDULER_INTERVAL_MS }, "scheduler started");
  tick();
  onShutdown(logger, env.SHUTDOWN_GRACE_MS, async () => {
    clearTimeout(timer);
    await current;
    clearTimeout(timer);
    await close();
  });
}
