import { skewedClock, systemClock } from "@nudge/core";
import { assertMigrated, createDb, DeliveryLedger } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { createProviders } from "@nudge/providers";
import { createRedis } from "@nudge/queue";
import { loadWorkerEnv } from "./env";
import { armFailpoint, noFailpoints } from "./failpoints";
import { createReminderWorker } from "./reminder-worker";
import { onShutdown } from "@nudge/lifecycle";

export async function runWorker(): Promise<void> {
  const env = loadWorkerEnv();
  const logger = createLogger("worker", env.LOG_LEVEL);
  const clock = env.CLOCK_SKEW_MS ? skewedClock(env.CLOCK_SKEW_MS) : systemClock;
  await assertMigrated(env.DATABASE_URL);
  const db = createDb(env.DATABASE_URL, { poolSize: Math.min(env.WORKER_CONCURRENCY + 2, 50) });
  const connection = createRedis(env.REDIS_URL);
  const { sms, voice, email, crm } = createProviders({
    twilio: {
      accountSid: env.TWILIO_ACCOUNT_SID,
      authToken: env.TWILIO_AUTH_TOKEN,
      from: env.TWILIO_FROM_NUMBER,
      baseUrl: env.TWILIO_BASE_URL,
      statusCallbackUrl: env.TWILIO_STATUS_CALLBACK_URL,
      timeoutMs: env.PROVIDER_TIMEOUT_MS,
    },
    sendgrid: { apiKey: env.SENDGRID_API_KEY, from: env.SENDGRID_FROM_EMAIL, baseUrl: env.SENDGRID_BASE_URL, timeoutMs: env.PROVIDER_TIMEOUT_MS },
    hubspot: { accessToken: env.HUBSPOT_ACCESS_TOKEN, baseUrl: env.HUBSPOT_BASE_URL, timeoutMs: env.PROVIDER_TIMEOUT_MS },
  });
  const worker = createReminderWorker(
    {
      db,
      ledger: new DeliveryLedger(db, clock),
      providers: { sms, voice, email },
      crm,
      plan: env.REMINDER_PLAN,
      clock,
      logger,
      failpoint: env.NUDGE_FAILPOINT ? armFailpoint(env.NUDGE_FAILPOINT) : noFailpoints,
    },
    {
      connection,
      prefix: env.QUEUE_PREFIX,
      concurrency: env.WORKER_CONCURRENCY,
      lockMs: env.WORKER_LOCK_MS,
      stalledIntervalMs: env.WORKER_STALLED_INTERVAL_MS,
      backoffMs: env.JOB_BACKOFF_MS,
    },
  );
  await worker.waitUntilReady();
  logger.info({ concurrency: env.WORKER_CONCURRENCY, prefix: env.QUEUE_PREFIX }, "worker ready");

  onShutdown(logger, env.SHUTDOWN_GRACE_MS, async () => {
    await worker.close();
    connection.disconnect();
    await db.$disconnect();
  });
}
