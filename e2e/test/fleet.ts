import { DEFAULT_REMINDER_PLAN, type DeliveryState } from "@nudge/core";
import { createDb, type Db } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { createCrmGateway } from "@nudge/providers";
import { createRedis, createReminderQueue, type Redis } from "@nudge/queue";
import { runPass } from "@nudge/scheduler";
import { simulatorProviderEnv, SIMULATOR_TWILIO_AUTH_TOKEN, startSimulator, type Simulator } from "@nudge/simulator";
import {
  TEST_REDIS_URL,
  createAppointment,
  createContact,
  createTestDatabase,
  deletePrefix,
  eventually,
  startApp,
  testQueuePrefix,
  type AppProcess,
  type TestDatabase,
} from "@nudge/testing";
import type { Queue } from "bullmq";

/**
 * One isolated Nudge installation per test: its own database, queue prefix and provider simulator, with the worker
 * started as a real OS process (so that it can be SIGKILLed) and scheduler passes run in the test process.
 */
export interface SeededReminder {
  appointmentId: number;
  phone: string;
}

export interface Fleet {
  db: Db;
  sim: Simulator;
  queue: Queue;
  redisUrl: string;
  prefix: string;
  workerEnv: Record<string, string>;
  /** Starts a worker process; waits for its "worker ready" unless `waitUntilReady` is false. */
  startWorker(extraEnv?: Record<string, string>, options?: { waitUntilReady?: boolean }): Promise<AppProcess>;
  /** Appointments whose latest due step is SMS (starting in 90 minutes), one contact each. */
  seedSmsReminders(count: number): Promise<SeededReminder[]>;
  seedSmsReminder(): Promise<SeededReminder>;
  pass(): ReturnType<typeof runPass>;
  states(): Promise<Record<string, DeliveryState>>;
  /** Waits until `count` deliveries exist and none is pending or sending. */
  settled(count: number, timeoutMs?: number): Promise<{ id: number; state: DeliveryState; reason: string | null; recipient: string }[]>;
  close(): Promise<void>;
}

export async function startFleet(options: { redisUrl?: string; skipHubSpotSetup?: boolean } = {}): Promise<Fleet> {
  const redisUrl = options.redisUrl ?? TEST_REDIS_URL;
  const database: TestDatabase = await createTestDatabase();
  const db = createDb(database.url);
  const sim = await startSimulator({ port: 0, twilioAuthToken: SIMULATOR_TWILIO_AUTH_TOKEN });
  // The deployment step every portal needs before a worker takes jobs (`nudge hubspot setup`); skipped only by the
  // test of what a worker does on a portal that never had it.
  if (!options.skipHubSpotSetup) await setUpHubSpot(sim.url);
  const prefix = testQueuePrefix();
  const redis: Redis = createRedis(redisUrl);
  const queue = createReminderQueue(redis, prefix);
  const workers: AppProcess[] = [];
  const workerEnv = {
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    ...simulatorProviderEnv(sim.url),
    PROVIDER_TIMEOUT_MS: "1000",
    // Short locks so that a killed worker's job is taken over within seconds instead of the production 30 s.
    WORKER_LOCK_MS: "2000",
    WORKER_STALLED_INTERVAL_MS: "1000",
    JOB_BACKOFF_MS: "200",
    WORKER_CONCURRENCY: "4",
    // A portal that becomes ready (or is fixed) is noticed within half a second instead of the production 15 s.
    CRM_READY_CHECK_MS: "500",
    // The simulator's lists do not lag unless a test says so: after a 5xx, the lookup is believed after half a second.
    LOOKUP_SETTLE_MS: "500",
  };
  const logger = createLogger("test-scheduler", "silent");
  const seedOne = async (): Promise<SeededReminder> => {
    const contact = await createContact(db);
    const appt = await createAppointment(db, contact.id, { inMinutes: 90 });
    return { appointmentId: appt.id, phone: contact.phone! };
  };

  return {
    db,
    sim,
    queue,
    redisUrl,
    prefix,
    workerEnv,
    async startWorker(extraEnv = {}, { waitUntilReady = true } = {}) {
      const worker = startApp("apps/worker/src/main.ts", { ...workerEnv, ...extraEnv });
      workers.push(worker);
      if (waitUntilReady) await worker.waitForLine(/"msg":"worker ready"/);
      return worker;
    },
    async seedSmsReminders(count) {
      const seeded = [];
      for (let i = 0; i < count; i++) seeded.push(await seedOne());
      return seeded;
    },
    seedSmsReminder: seedOne,
    pass: () => runPass({ db, queue, redis, plan: DEFAULT_REMINDER_PLAN, logger, batchSize: 500, backoffMs: 200 }),
    async states() {
      const rows = await db.delivery.findMany({ select: { idempotencyKey: true, state: true } });
      return Object.fromEntries(rows.map((r) => [r.idempotencyKey, r.state]));
    },
    settled: (count, timeoutMs = 30_000) =>
      eventually(
        `${count} settled deliveries`,
        async () => {
          const rows = await db.delivery.findMany({ select: { id: true, state: true, reason: true, recipient: true }, orderBy: { id: "asc" } });
          return rows.length >= count && rows.every((r) => r.state !== "pending" && r.state !== "sending") ? rows : undefined;
        },
        timeoutMs,
      ),
    async close() {
      await Promise.all(workers.map((w) => w.kill("SIGKILL")));
      await queue.close();
      redis.disconnect();
      await deletePrefix(prefix, redisUrl).catch(() => undefined);
      await sim.close();
      await db.$disconnect();
      await database.drop();
    },
  };
}

/** Nudge's properties in the simulated portal, as `nudge hubspot setup` creates them. */
export async function setUpHubSpot(simulatorUrl: string): Promise<void> {
  const env = simulatorProviderEnv(simulatorUrl);
  await createCrmGateway({ accessToken: env.HUBSPOT_ACCESS_TOKEN!, baseUrl: simulatorUrl, timeoutMs: 5_000 }).setup();
}

/** How many times the simulator accepted a message for each recipient (the ground truth for duplicates). */
export function sendsPerRecipient(sim: Simulator): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of sim.records()) {
    if (r.provider === "hubspot") continue;
    counts.set(r.to, (counts.get(r.to) ?? 0) + 1);
  }
  return counts;
}
