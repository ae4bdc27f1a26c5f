import { assertMigrated, assertProductionClock, checkPostgres, createDb } from "@nudge/db";
import { onShutdown } from "@nudge/lifecycle";
import { createLogger } from "@nudge/logger";
import { loadApiEnv, type ApiEnv } from "./env";
import { buildWebhooks } from "./webhooks";

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
  const db = createDb(env.DATABASE_URL, { poolSize: 5 });
  if (env.NODE_ENV !== "test") await assertProductionClock(db);
  const app = buildWebhooks({
    db,
    logger,
    ...(env.TWILIO_AUTH_TOKEN && env.WEBHOOK_PUBLIC_URL && { twilio: { authToken: env.TWILIO_AUTH_TOKEN, publicUrl: env.WEBHOOK_PUBLIC_URL } }),
    ...(env.SENDGRID_WEBHOOK_PUBLIC_KEY && { sendGrid: { publicKey: env.SENDGRID_WEBHOOK_PUBLIC_KEY } }),
    ...(env.SENDGRID_INBOUND_SECRET && { sendGridInbound: { secret: env.SENDGRID_INBOUND_SECRET } }),
    smsHelpText: env.SMS_HELP_TEXT,
  });
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await app.close();
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
    },
    "api listening",
  );
  if (options.signals !== false) onShutdown(logger, env.SHUTDOWN_GRACE_MS, close);
  return { url, close };
}
