import { messageProvidersFromEnv } from "@nudge/config";
import { assertMigrated, assertProductionClock, checkPostgres, createDb } from "@nudge/db";
import { onShutdown } from "@nudge/lifecycle";
import { createLogger } from "@nudge/logger";
import { leaseFor, type ReconcileCounts, SendGuard } from "@nudge/send-guard";
import { loadReconcilerEnv } from "./env";

/** List lag allowed for by default, on top of the provider timeout. */
const DEFAULT_LIST_LAG_MS = 60_000;

/**
 * `once`: one pass over every unresolved delivery, then exit (cron). Otherwise a pass every RECONCILE_INTERVAL_MS
 * until SIGTERM. Passes may overlap across processes: every change is a guarded statement (unknown -> ...), and a
 * resend goes through the claim, so two reconcilers never send one message twice.
 */
export async function runReconciler(options: { once: boolean }): Promise<ReconcileCounts | undefined> {
  const env = loadReconcilerEnv();
  const logger = createLogger("reconciler", env.LOG_LEVEL);
  await checkPostgres(env.DATABASE_URL);
  await assertMigrated(env.DATABASE_URL);
  const db = createDb(env.DATABASE_URL, { poolSize: 10 });
  if (env.NODE_ENV !== "test") await assertProductionClock(db);
  const guard = new SendGuard({
    db,
    providers: messageProvidersFromEnv(env, { emailActivity: env.SENDGRID_EMAIL_ACTIVITY === "on" }),
    leaseMs: env.SEND_LEASE_MS ?? leaseFor(env.PROVIDER_TIMEOUT_MS),
    providerTimeoutMs: env.PROVIDER_TIMEOUT_MS,
    lookupSettleMs: env.LOOKUP_SETTLE_MS,
    logger,
  });
  const reconciler = guard.reconciler({
    settleMs: env.RECONCILE_SETTLE_MS ?? env.PROVIDER_TIMEOUT_MS + DEFAULT_LIST_LAG_MS,
    email: { eventWebhook: env.SENDGRID_EVENTS === "on", settleMs: env.RECONCILE_EMAIL_SETTLE_MS, policy: env.EMAIL_NO_EVIDENCE_POLICY },
    maxResends: env.RECONCILE_MAX_RESENDS,
    logger,
  });

  if (options.once) {
    try {
      const total: ReconcileCounts = { confirmed: 0, resent: 0, superseded: 0, gaveUp: 0, toOperator: 0, deferred: 0 };
      // Until a pass finds nothing it can act on: a batch at a time.
      for (;;) {
        const counts = await reconciler.runOnce();
        for (const key of Object.keys(total) as Array<keyof ReconcileCounts>) total[key] += counts[key];
        if (counts.confirmed + counts.resent + counts.superseded + counts.gaveUp + counts.toOperator === 0) break;
      }
      logger.info(total, "reconciled");
      return total;
    } finally {
      await db.$disconnect();
    }
  }

  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> = Promise.resolve();
  const tick = () => {
    current = reconciler
      .runOnce()
      .catch((error: unknown) => logger.error({ err: (error as Error).message }, "reconcile pass failed; next pass retries"))
      .finally(() => {
        timer = setTimeout(tick, env.RECONCILE_INTERVAL_MS);
      });
  };
  logger.info({ intervalMs: env.RECONCILE_INTERVAL_MS }, "reconciler started");
  tick();
  onShutdown(logger, env.SHUTDOWN_GRACE_MS, async () => {
    clearTimeout(timer);
    await current;
    clearTimeout(timer);
    await db.$disconnect();
  });
  return undefined;
}
