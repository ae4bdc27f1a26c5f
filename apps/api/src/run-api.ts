import { assertMigrated, assertProductionClock, checkPostgres, createDb } from "@nudge/db";
import { onShutdown } from "@nudge/lifecycle";
import { createLogger } from "@nudge/logger";
import { createQueue, createRedis, watchRedisState } from "@nudge/queue";
import { OneOffEnqueuer, RequestApplier } from "@nudge/relay";
import { loadApiEnv, type ApiEnv } from "./env";
import { keysDatabaseUrl } from "./v1/idempotency-store";
import { RequestAcceptor } from "./v1/request-acceptor";
import { buildWebhooks } from "./webhooks";

/** How often the API looks for one-off messages it accepted but could not enqueue, and how old they must be. */
const SWEEP_EVERY_MS = 30_000;
const SWEEP_AGE_MS = 60_000;

export interface RunningApi {
  /** Where it listens, e.g. http://127.0.0.1:3100. */
  url: string;
  /** Stops taking requests, lets those in flight finish, then closes the database pool. */
  close(): Promise<void>;
}

/**
 * Starts the webhooks app and listens on API_HOST:API_PORT until SIGTERM (`signals: false` leaves signals alone, for
 * a caller that stops it with `close`). PostgreSQL is checked first, so that a server that is down is named in one
 * line instead of the app answering 503 to every provider.
 */
export async function runApi(env: ApiEnv = loadApiEnv(), options: { signals?: boolean } = {}): Promise<RunningApi> {
  const logger = createLogger("api", env.LOG_LEVEL);
  await checkPostgres(env.DATABASE_URL);
  await assertMigrated(env.DATABASE_URL);
  // Each API request holds at most one connection at a time (its key, then its transaction, then its answer).
  const db = createDb(env.DATABASE_URL, { poolSize: 10 });
  if (env.NODE_ENV !== "test") await assertProductionClock(db);
  // Redis is not checked at start: the API accepts requests without it (Postgres is the record), and the enqueuer
  // retries with backoff until it is back.
  const redis = createRedis(env.REDIS_URL);
  const queue = createQueue("one-off", redis, env.QUEUE_PREFIX);
  // One line per change of Redis's state, instead of one per reconnect attempt.
  watchRedisState(redis, [queue], {
    lost: (error) => logger.warn({ err: error.message }, "Redis connection lost; the API still accepts requests, their jobs wait for it"),
    restored: () => logger.info({}, "Redis connection restored"),
  });
  const enqueuer = new OneOffEnqueuer({ db, queue, redis, logger });
  const applier = new RequestApplier({ db, defaultDeadlineHours: env.ONE_OFF_DEFAULT_DEADLINE_HOURS });
  const keysDb = createDb(keysDatabaseUrl(env.DATABASE_URL), { poolSize: 5 });
  const acceptor = new RequestAcceptor({ db, keysDb, applier, enqueuer, logger });
  // One-off messages accepted by an API process that died before enqueueing them (the scheduler's pass would find
  // them too; this is sooner). A job added twice is one job: its key is its jobId.
  let sweeping: Promise<unknown> = enqueuer.sweep(SWEEP_AGE_MS).catch((error: unknown) => logger.warn({ err: (error as Error).message }, "one-off sweep failed"));
  const sweepTimer = setInterval(() => {
    sweeping = enqueuer.sweep(SWEEP_AGE_MS).catch((error: unknown) => logger.warn({ err: (error as Error).message }, "one-off sweep failed"));
  }, SWEEP_EVERY_MS);
  sweepTimer.unref();
  const app = buildWebhooks({
    db,
    logger,
    ...(env.TWILIO_AUTH_TOKEN && env.WEBHOOK_PUBLIC_URL && { twilio: { authToken: env.TWILIO_AUTH_TOKEN, publicUrl: env.WEBHOOK_PUBLIC_URL } }),
    ...(env.SENDGRID_WEBHOOK_PUBLIC_KEY && { sendGrid: { publicKey: env.SENDGRID_WEBHOOK_PUBLIC_KEY } }),
    ...(env.SENDGRID_INBOUND_SECRET && { sendGridInbound: { secret: env.SENDGRID_INBOUND_SECRET } }),
    smsHelpText: env.SMS_HELP_TEXT,
    api: { acceptor, rateLimitPerMinute: env.API_RATE_LIMIT_PER_MINUTE, bodyLimit: env.API_BODY_LIMIT_BYTES },
  });
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      clearInterval(sweepTimer);
      await app.close();
      await sweeping;
      await enqueuer.close();
      await queue.close().catch(() => undefined);
      redis.disconnect();
      await keysDb.$disconnect();
      await db.$disconnect();
    })());
  try {
    await app.listen({ port: env.API_PORT, host: env.API_HOST });
  } catch (error) {
    await close();
    const code = (error as { code?: string }).code;
    if (code === "EADDRINUSE") throw new Error(`port ${env.API_PORT} on ${env.API_HOST} is in use: stop what holds it or set API_PORT`);
    if (code === "EADDRNOTAVAIL") throw new Error(`API_HOST ${env.API_HOST} is not an address of this machine: set API_HOST (0.0.0.0: every interface)`);
    throw error;
  }
  const host = env.API_HOST === "0.0.0.0" || env.API_HOST === "::" ? "127.0.0.1" : env.API_HOST;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${env.API_PORT}`;
  logger.info(
    {
      url,
      twilio: Boolean(env.TWILIO_AUTH_TOKEN),
      sendGrid: Boolean(env.SENDGRID_WEBHOOK_PUBLIC_KEY),
      sendGridInbound: Boolean(env.SENDGRID_INBOUND_SECRET),
      publicUrl: env.WEBHOOK_PUBLIC_URL,
      rateLimitPerMinute: env.API_RATE_LIMIT_PER_MINUTE,
    },
    "api listening",
  );
  if (options.signals !== false) onShutdown(logger, env.SHUTDOWN_GRACE_MS, close);
  return { url, close };
}
