import { messageProvidersFromEnv } from "@nudge/config";
import { assertMigrated, assertProductionClock, createDb } from "@nudge/db";
import { onShutdown } from "@nudge/lifecycle";
import { createLogger } from "@nudge/logger";
import { createCrmGateway } from "@nudge/providers";
import { createRedis, RedisRequestLimiter } from "@nudge/queue";
import { leaseFor, SendGuard } from "@nudge/send-guard";
import { loadWorkerEnv } from "./env";
import { armFailpoint } from "./failpoints";
import { CrmReadiness } from "./crm-readiness";
import { createDripWorker } from "./drip-worker";
import { createOneOffWorker } from "./one-off-worker";
import { createReminderWorker } from "./reminder-worker";

export async function runWorker(): Promise<void> {
  const env = loadWorkerEnv();
  const logger = createLogger("worker", env.LOG_LEVEL);
  if (env.CLOCK_SKEW_MS) skewProcessClock(env.CLOCK_SKEW_MS);
  await assertMigrated(env.DATABASE_URL);
  const db = createDb(env.DATABASE_URL, { poolSize: Math.min(env.WORKER_CONCURRENCY + 2, 50) });
  if (env.NODE_ENV !== "test") await assertProductionClock(db);
  const connection = createRedis(env.REDIS_URL);
  const guard = new SendGuard({
    db,
    providers: messageProvidersFromEnv(env),
    leaseMs: env.SEND_LEASE_MS ?? leaseFor(env.PROVIDER_TIMEOUT_MS),
    providerTimeoutMs: env.PROVIDER_TIMEOUT_MS,
    lookupSettleMs: env.LOOKUP_SETTLE_MS,
    logger,
    ...(env.NUDGE_FAILPOINT && { failpoint: armFailpoint(env.NUDGE_FAILPOINT) }),
  });
  // One HubSpot budget for the whole fleet: every worker process counts its requests against the same Redis key.
  const limiter = new RedisRequestLimiter({
    redis: connection,
    requestsPerTenSeconds: env.HUBSPOT_REQUESTS_PER_10S,
    key: `${env.QUEUE_PREFIX}:hubspot-requests`,
  });
  const crm = createCrmGateway({ accessToken: env.HUBSPOT_ACCESS_TOKEN, baseUrl: env.HUBSPOT_BASE_URL, timeoutMs: env.PROVIDER_TIMEOUT_MS, limiter });
  const readiness = new CrmReadiness(crm, logger, env.CRM_READY_CHECK_MS);
  const workerOptions = {
    connection,
    prefix: env.QUEUE_PREFIX,
    concurrency: env.WORKER_CONCURRENCY,
    lockMs: env.WORKER_LOCK_MS,
    stalledIntervalMs: env.WORKER_STALLED_INTERVAL_MS,
    backoffMs: env.JOB_BACKOFF_MS,
    // No job is taken before the CRM can take Nudge's writes: a misconfigured portal must not spend messages.
    autorun: false,
  };
  // Reminders, drip steps and one-off messages, each kind on its own queue, through the same guard, CRM budget and readiness gate.
  const workers = [
    createReminderWorker({ db, guard, crm, plan: env.REMINDER_PLAN, logger, readiness }, workerOptions),
    createDripWorker({ db, guard, crm, logger, readiness, stopAtLifecycleStage: env.DRIP_STOP_LIFECYCLE_STAGE }, workerOptions),
    createOneOffWorker({ db, guard, logger }, workerOptions),
  ];
  onShutdown(logger, env.SHUTDOWN_GRACE_MS, async () => {
    readiness.stop();
    await Promise.all(workers.map((w) => w.close()));
    connection.disconnect();
    await db.$disconnect();
  });
  await readiness.waitUntilReady();
  for (const worker of workers) {
    void worker.run().catch((error: unknown) => logger.error({ err: (error as Error).message }, "worker stopped with an error"));
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  logger.info({ concurrency: env.WORKER_CONCURRENCY, prefix: env.QUEUE_PREFIX }, "worker ready");
}

/**
 * The chaos suite's skewed host (NODE_ENV=test only). Every decision of the send protocol is judged by the
 * database's clock, so what a skew can still reach is this process's own timestamps (BullMQ's delays, logs): they
 * are skewed too, as on a real host whose clock is off.
 */
function skewProcessClock(skewMs: number): void {
  const realNow = Date.now;
  Date.now = () => realNow() + skewMs;
}
