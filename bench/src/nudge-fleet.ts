import { DEFAULT_REMINDER_PLAN } from "@nudge/core";
import { createLogger } from "@nudge/logger";
import { createCrmGateway } from "@nudge/providers";
import { createReminderQueue } from "@nudge/queue";
import { runPass } from "@nudge/scheduler";
import { leaseFor, SendGuard } from "@nudge/send-guard";
import { createReminderWorker } from "@nudge/worker";
import type { Worker } from "bullmq";
import type { BenchEnv } from "./bench-env";
import { meterDrain, type Drain } from "./drain-meter";
import { passDeps } from "./pass-deps";
import { progress } from "./report";
import { deliveryStates, seedDueSmsAppointments, unsentReasons } from "./seed";
import { simulatorProvidersConfig } from "./simulator-providers";

/**
 * The real scheduler pass and the real reminder worker, run in the bench process with the same wiring as their
 * apps' main.ts, minus env parsing. Logs are silent: failures are counted from the worker's events instead, and the
 * table stays readable.
 */

/** One scheduler pass over the section's database; returns its wall time in seconds. */
export async function enqueueDueReminders(env: BenchEnv, batchSize = 1_000): Promise<number> {
  const queue = createReminderQueue(env.redis, env.prefix);
  try {
    const started = performance.now();
    await runPass(passDeps({ db: env.db, queue, redis: env.redis, batchSize }));
    return (performance.now() - started) / 1000;
  } finally {
    await queue.close();
  }
}

export function startReminderWorker(env: BenchEnv, concurrency: number): Worker {
  const config = simulatorProvidersConfig(env.sim.url);
  const logger = createLogger("bench-worker", "silent");
  const guard = new SendGuard({ db: env.db, providers: config, leaseMs: leaseFor(10_000), providerTimeoutMs: 10_000, logger });
  const deps = { db: env.db, guard, crm: createCrmGateway(config.hubspot), plan: DEFAULT_REMINDER_PLAN, logger };
  return createReminderWorker(deps, {
    connection: env.redis,
    prefix: env.prefix,
    concurrency,
    lockMs: 30_000,
    stalledIntervalMs: 30_000,
    backoffMs: 1_000,
  });
}

/** How many SMS and HubSpot updates the simulator accepted: the ground truth behind "never a duplicate send". */
export function acceptedBySimulator(env: BenchEnv): { sms: number; hubspot: number; distinctSmsRecipients: number } {
  const sms = env.sim.records({ provider: "twilio-sms" });
  return {
    sms: sms.length,
    hubspot: env.sim.records({ provider: "hubspot" }).length,
    distinctSmsRecipients: new Set(sms.map((r) => r.to)).size,
  };
}

export interface NudgeDrain {
  /** The scheduler pass that enqueued the reminders (not part of the drain figure). */
  passSeconds: number;
  drain: Drain;
  accepted: ReturnType<typeof acceptedBySimulator>;
  /** The ledger afterwards, by delivery state. */
  states: Record<string, number>;
  /** Why some deliveries are not `sent` (empty on a clean run). */
  unsent: string[];
}

/**
 * `count` appointments due for their SMS, one scheduler pass, then the reminder worker drains them. The drain is
 * timed from the first completion to the last; the counts afterwards say whether it measured what it claims.
 */
export async function measureNudgeDrain(env: BenchEnv, count: number, concurrency: number, label: string): Promise<NudgeDrain> {
  progress(`${label}: seeding ${count.toLocaleString("en-US")} appointments`);
  await seedDueSmsAppointments(env.sql, count);
  const passSeconds = await enqueueDueReminders(env);
  const worker = startReminderWorker(env, concurrency);
  try {
    const drain = await meterDrain(worker, count, label);
    return {
      passSeconds,
      drain,
      accepted: acceptedBySimulator(env),
      states: await deliveryStates(env.sql),
      unsent: await unsentReasons(env.sql),
    };
  } finally {
    await worker.close();
  }
}

/** Everything that would make the drain figure a lie: a missing or repeated SMS, or a reminder not `sent`. */
export function nudgeDrainProblems(count: number, run: NudgeDrain): string[] {
  const problems: string[] = [];
  if (run.accepted.sms !== count) problems.push(`the simulator accepted ${run.accepted.sms} SMS for ${count} reminders`);
  if (run.accepted.distinctSmsRecipients !== run.accepted.sms) {
    problems.push(`${run.accepted.sms - run.accepted.distinctSmsRecipients} recipients got more than one SMS`);
  }
  if ((run.states.sent ?? 0) !== count) {
    problems.push(`the ledger has ${JSON.stringify(run.states)} for ${count} reminders; not sent: ${run.unsent.join("; ")}`);
  }
  if (run.drain.attemptFailures > 0) problems.push(`${run.drain.attemptFailures} failed attempts (first: ${run.drain.firstFailure})`);
  return problems;
}
