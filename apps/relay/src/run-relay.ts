import { maskUrlPassword } from "@nudge/core";
import { assertMigrated, assertProductionClock, checkPostgres, createDb } from "@nudge/db";
import { onShutdown } from "@nudge/lifecycle";
import { createLogger } from "@nudge/logger";
import { checkRedis, createQueue, createRedis, watchRedisState } from "@nudge/queue";
import { loadRelayEnv } from "./env";
import { armFailpoint, noFailpoints } from "./failpoints";
import { OneOffEnqueuer } from "./one-off-enqueuer";
import { RequestApplier } from "./request-applier";
import { SourceRelay } from "./source-relay";
import { openSqlPool } from "./sql-pool";
import { reportYoungGeneration } from "./young-generation";

/** How often the enqueuer looks for one-off handoffs a dead relay left behind, and how old they must be. */
const SWEEP_EVERY_MS = 30_000;
const SWEEP_AGE_MS = 60_000;

/**
 * Runs until SIGTERM: one relay loop per configured source database, one enqueuer for the one-off messages they
 * commit. Any number of relay processes may run on the same sources at once.
 *
 * Start-up requires Nudge's database (the record: nothing can be relayed without it). Redis and the sources are
 * only checked and reported: with Redis down the relay still copies requests into Postgres and the jobs follow when
 * it is back; a source that is down is retried by its own loop without holding the others up.
 */
export async function runRelay(): Promise<void> {
  const env = loadRelayEnv();
  const logger = createLogger("relay", env.LOG_LEVEL);
  reportYoungGeneration(logger);
  await checkPostgres(env.DATABASE_URL);
  await assertMigrated(env.DATABASE_URL);
  // Per batch loop of each source: a request transaction, and an enroll or stop (their own transactions) right after
  // it; plus the enqueuer's statements.
  const db = createDb(env.DATABASE_URL, { poolSize: 2 + 2 * env.RELAY_CONCURRENCY * env.RELAY_SOURCES.length });
  if (env.NODE_ENV !== "test") await assertProductionClock(db);
  await Promise.all([
    checkRedis(env.REDIS_URL).catch((error: unknown) => logger.warn({ err: (error as Error).message }, "Redis is not answering; one-off jobs wait for it, relaying goes on")),
    ...env.RELAY_SOURCES.map((source) =>
      checkPostgres(source.url).catch((error: unknown) =>
        logger.error({ source: source.name, err: (error as Error).message.replace(source.url, maskUrlPassword(source.url)) }, "source database is not answering; retrying"),
      ),
    ),
  ]);

  const redis = createRedis(env.REDIS_URL);
  const queue = createQueue("one-off", redis, env.QUEUE_PREFIX);
  // One line per change of Redis's state, instead of one per reconnect attempt.
  watchRedisState(redis, [queue], {
    lost: (error) => logger.warn({ err: error.message }, "Redis connection lost; one-off jobs wait for it, relaying goes on"),
    restored: () => logger.info({}, "Redis connection restored"),
  });
  const enqueuer = new OneOffEnqueuer({ db, queue, redis, logger });
  const applier = new RequestApplier({ db, defaultDeadlineHours: env.ONE_OFF_DEFAULT_DEADLINE_HOURS });
  const failpoint = env.NUDGE_RELAY_FAILPOINT ? armFailpoint(env.NUDGE_RELAY_FAILPOINT) : noFailpoints;
  const relays = env.RELAY_SOURCES.map(
    (source) =>
      new SourceRelay({
        source,
        // A connection per batch loop, one for LISTEN, one for pruning.
        pool: openSqlPool(source.url, env.RELAY_CONCURRENCY + 2),
        applier,
        enqueuer,
        logger,
        batchSize: env.RELAY_BATCH_SIZE,
        concurrency: env.RELAY_CONCURRENCY,
        pollMs: env.RELAY_POLL_MS,
        retentionHours: env.RELAY_RETENTION_HOURS,
        pruneIntervalMs: env.RELAY_PRUNE_INTERVAL_MS,
        failpoint,
      }),
  );

  // What a relay killed between marking its rows and enqueueing left behind, whatever its age: at start nothing in
  // this process is enqueueing yet, and a job added twice is one job (its key is its jobId).
  let sweeping: Promise<unknown> = enqueuer.sweep(0).catch((error: unknown) => logger.warn({ err: (error as Error).message }, "one-off sweep failed"));
  const sweepTimer = setInterval(() => {
    sweeping = enqueuer.sweep(SWEEP_AGE_MS).catch((error: unknown) => logger.warn({ err: (error as Error).message }, "one-off sweep failed"));
  }, SWEEP_EVERY_MS);
  for (const relay of relays) relay.start();
  logger.info(
    { sources: env.RELAY_SOURCES.map((s) => ({ name: s.name, url: maskUrlPassword(s.url) })), batchSize: env.RELAY_BATCH_SIZE, concurrency: env.RELAY_CONCURRENCY, pollMs: env.RELAY_POLL_MS },
    "relay started",
  );

  onShutdown(logger, env.SHUTDOWN_GRACE_MS, async () => {
    clearInterval(sweepTimer);
    await Promise.all(relays.map((r) => r.stop()));
    await sweeping;
    await enqueuer.close();
    await queue.close();
    redis.disconnect();
    await db.$disconnect();
  });
}
