import { randomBytes } from "node:crypto";
import { assertMigrated, checkPostgres, createDb, DashboardStore } from "@nudge/db";
import { onShutdown } from "@nudge/lifecycle";
import { createLogger } from "@nudge/logger";
import { createQueue, createRedis, JOBS, type JobKind } from "@nudge/queue";
import { OperatorDecisions } from "@nudge/send-guard";
import { loadDashboardEnv, type DashboardEnv } from "./env";
import { hashPassword } from "./password";
import { buildDashboard } from "./server";

export interface RunningDashboard {
  /** Where it listens, e.g. http://127.0.0.1:3200. */
  url: string;
  /** The demo login, when DASHBOARD_DEMO_LOGIN made one. */
  demoLogin?: { name: string; password: string };
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * Starts the dashboard on DASHBOARD_HOST:DASHBOARD_PORT, a process of its own: the ops UI is not mounted in the
 * webhooks app, whose port faces the providers and other services. It refuses to start with no user to log in as,
 * except in the local demo (DASHBOARD_DEMO_LOGIN, only on a loopback address), which makes an operator `demo` with a
 * fresh random password and prints it.
 */
export async function runDashboard(env: DashboardEnv = loadDashboardEnv(), options: { signals?: boolean } = {}): Promise<RunningDashboard> {
  const logger = createLogger("dashboard", env.LOG_LEVEL);
  await checkPostgres(env.DATABASE_URL);
  await assertMigrated(env.DATABASE_URL);
  const db = createDb(env.DATABASE_URL, { poolSize: 5 });
  const redis = createRedis(env.REDIS_URL);
  const queues = (Object.keys(JOBS) as JobKind[]).map((kind) => createQueue(kind, redis, env.QUEUE_PREFIX));
  const close = async () => {
    await app.close();
    await Promise.all(queues.map((q) => q.close()));
    redis.disconnect();
    await db.$disconnect();
  };
  const store = new DashboardStore(db);
  let demoLogin: RunningDashboard["demoLogin"];
  if (env.DASHBOARD_DEMO_LOGIN) {
    if (!LOOPBACK.test(env.DASHBOARD_HOST)) {
      await close().catch(() => undefined);
      throw new Error(`DASHBOARD_DEMO_LOGIN is for a local demo only: DASHBOARD_HOST ${env.DASHBOARD_HOST} is not a loopback address`);
    }
    demoLogin = { name: "demo", password: randomBytes(12).toString("base64url") };
    await store.putUser(demoLogin.name, "operator", await hashPassword(demoLogin.password));
  } else if ((await store.countUsers()) === 0) {
    await close().catch(() => undefined);
    throw new Error("no dashboard user: add one with `nudge users add <name> --role operator` (only the local demo starts without one)");
  }
  const app = await buildDashboard({
    store,
    decisions: new OperatorDecisions(db),
    queues,
    logger,
    origin: env.DASHBOARD_ORIGIN,
    secureCookie: env.DASHBOARD_SECURE_COOKIE,
    sessionTtlMs: env.DASHBOARD_SESSION_TTL_MS,
  });
  try {
    await app.listen({ port: env.DASHBOARD_PORT, host: env.DASHBOARD_HOST });
  } catch (error) {
    await close().catch(() => undefined);
    const code = (error as { code?: string }).code;
    if (code === "EADDRINUSE") throw new Error(`port ${env.DASHBOARD_PORT} on ${env.DASHBOARD_HOST} is in use: stop what holds it or set DASHBOARD_PORT`);
    throw error;
  }
  await store.pruneSessions();
  const host = env.DASHBOARD_HOST === "0.0.0.0" || env.DASHBOARD_HOST === "::" ? "127.0.0.1" : env.DASHBOARD_HOST;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${env.DASHBOARD_PORT}`;
  logger.info({ url, origin: env.DASHBOARD_ORIGIN, secureCookie: env.DASHBOARD_SECURE_COOKIE, queues: queues.map((q) => q.name) }, "dashboard listening");
  if (demoLogin) logger.warn({ name: demoLogin.name }, "demo login created (DASHBOARD_DEMO_LOGIN): for a local demo only");
  if (options.signals !== false) onShutdown(logger, env.SHUTDOWN_GRACE_MS, close);
  return { url, ...(demoLogin && { demoLogin }), close };
}
