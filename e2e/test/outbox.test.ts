import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createNudgeClient, outboxMigrationSql } from "@nudge/client";
import { migrateSignupService, signUp, SOURCE } from "@nudge/example-signup-service";
import { ADMIN_DATABASE_URL, adminQuery, databaseUrl, eventually, startApp, startRedisServer, type AppProcess, type RedisServer } from "@nudge/testing";
import { Pool } from "pg";
import { type Fleet, startFleet } from "./fleet";

/**
 * Another service asks Nudge for messages through its outbox: the example signup service writes a user and its
 * welcome email in one transaction of its own database; the relay, worker, scheduler and reconciler run as real
 * processes. What was sent is judged by the simulator's record.
 */
jest.setTimeout(480_000);

/** The local cluster serving the test databases, as the chaos suite finds it; undefined when we may not restart it. */
function postgresCluster(): { version: string; name: string } | undefined {
  const url = new URL(ADMIN_DATABASE_URL);
  if (process.getuid?.() !== 0) return undefined;
  const listed = spawnSync("pg_lsclusters", ["--no-header"], { encoding: "utf8" });
  if (listed.status !== 0) return undefined;
  for (const line of listed.stdout.split("\n")) {
    const [version, name, port] = line.trim().split(/\s+/);
    if (version && name && port === (url.port || "5432")) return { version, name };
  }
  return undefined;
}

describe("the outbox, relayed", () => {
  let redis: RedisServer;
  let fleet: Fleet;
  let pool: Pool;
  let callerDatabase: string;
  const apps: AppProcess[] = [];

  beforeEach(async () => {
    redis = await startRedisServer();
    fleet = await startFleet({ redisUrl: redis.url });
    fleet.queue.on("error", () => undefined); // Redis is killed on purpose below
    callerDatabase = `signup_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
    await adminQuery(`CREATE DATABASE "${callerDatabase}"`);
    pool = new Pool({ connectionString: databaseUrl(callerDatabase), max: 8 });
    pool.on("error", () => undefined);
    await migrateSignupService(pool);
  });

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.kill("SIGKILL")));
    await pool.end();
    await fleet.close();
    await redis.stop();
    await adminQuery(`DROP DATABASE IF EXISTS "${callerDatabase}" WITH (FORCE)`);
  });

  test("1,000 signups while Redis is stopped for part of the run and Postgres restarted once: each committed user's welcome email once, none for a rolled-back signup", async () => {
    const cluster = postgresCluster();
    const env = {
      ...fleet.workerEnv,
      RELAY_SOURCES: JSON.stringify([{ name: SOURCE, url: databaseUrl(callerDatabase) }]),
      RELAY_POLL_MS: "1000",
      SCHEDULER_INTERVAL_MS: "1000",
      // Redis comes back empty: the scheduler's sweep (its marker gone with the data) enqueues again what is unsettled.
      SCHEDULER_SWEEP_MS: "60000",
      SENDGRID_EMAIL_ACTIVITY: "on",
      RECONCILE_INTERVAL_MS: "500",
      RECONCILE_SETTLE_MS: "3000",
      RECONCILE_EMAIL_SETTLE_MS: "3000",
    };
    await fleet.startWorker({ WORKER_CONCURRENCY: "16" });
    for (const app of ["relay", "scheduler", "reconciler"] as const) apps.push(startApp(`apps/${app}/src/main.ts`, env));

    const committed = new Map<string, number>();
    const rolledBack: string[] = [];
    let next = 0;
    let disruptions: Promise<void> = Promise.resolve();
    const signUpOne = async (i: number) => {
      const email = `signup${i}@example.com`;
      const rollBack = i % 10 === 7;
      for (let attempt = 1; ; attempt++) {
        try {
          const { userId } = await signUp(pool, { email, name: `Signup ${i}` }, { failAfterWrites: rollBack });
          committed.set(email, userId);
          return;
        } catch (error) {
          if (rollBack && /aborted after its writes/.test((error as Error).message)) {
            rolledBack.push(email);
            return;
          }
          // The database restarting under the signup: did the commit land before the connection went?
          const found = await pool.query<{ id: string }>("SELECT id FROM users WHERE email = $1", [email]).catch(() => undefined);
          if (found?.rows[0]) {
            committed.set(email, Number(found.rows[0].id));
            return;
          }
          if (attempt > 60) throw error;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    };
    const signer = async () => {
      for (;;) {
        const i = next++;
        if (i >= 1000) return;
        if (i === 300) {
          // Redis down for five seconds, then back empty: signups go on, since they never touch Redis.
          disruptions = disruptions.then(async () => {
            await redis.kill();
            await new Promise((r) => setTimeout(r, 5_000));
            await redis.restart();
          });
        }
        if (i === 650 && cluster) {
          disruptions = disruptions.then(async () => {
            const restart = spawnSync("pg_ctlcluster", ["--skip-systemctl-redirect", cluster.version, cluster.name, "restart", "-m", "fast"]);
            if (restart.status !== 0) throw new Error(`pg_ctlcluster restart failed: ${restart.stderr}`);
          });
        }
        await signUpOne(i);
      }
    };
    await Promise.all(Array.from({ length: 8 }, signer));
    await disruptions;
    expect(committed.size + rolledBack.length).toBe(1000);
    expect(rolledBack.length).toBe(100);

    // Every committed user's welcome email reaches the provider; wait for the last, then count.
    const welcomes = () => {
      const counts = new Map<string, number>();
      for (const r of fleet.sim.records({ provider: "sendgrid" })) if (/^Welcome, Signup \d+$/.test(r.subject ?? "")) counts.set(r.to, (counts.get(r.to) ?? 0) + 1);
      return counts;
    };
    await eventually(
      "every committed user's welcome email at the provider",
      async () => {
        const counts = welcomes();
        const missing = [...committed.keys()].filter((email) => !counts.has(email));
        if (missing.length === 0) return true;
        throw new Error(`${missing.length} missing, e.g. ${missing.slice(0, 3).join(", ")}`);
      },
      300_000,
    );
    const counts = welcomes();
    expect([...committed.keys()].filter((email) => counts.get(email) !== 1)).toEqual([]);
    expect(rolledBack.filter((email) => counts.has(email))).toEqual([]);
    expect(counts.size).toBe(committed.size);
    if (!cluster) console.warn("Postgres was not restarted: no local cluster this test may control (run as root with pg_ctlcluster)");
  });

  /** Welcome emails the simulator accepted, per address. */
  const welcomes = () => {
    const counts = new Map<string, number>();
    for (const r of fleet.sim.records({ provider: "sendgrid" })) if (/^Welcome, /.test(r.subject ?? "")) counts.set(r.to, (counts.get(r.to) ?? 0) + 1);
    return counts;
  };

  test("a relay SIGKILLed after writing into Nudge's database, another after marking the outbox, then three relays at once: every request one message, none lost", async () => {
    const env = {
      ...fleet.workerEnv,
      RELAY_SOURCES: JSON.stringify([{ name: SOURCE, url: databaseUrl(callerDatabase) }]),
      RELAY_POLL_MS: "500",
      RELAY_BATCH_SIZE: "25",
      SCHEDULER_INTERVAL_MS: "1000",
    };
    const emails: string[] = [];
    const signUpMany = async (from: number, count: number) => {
      for (let i = from; i < from + count; i++) {
        const email = `relayed${i}@example.com`;
        await signUp(pool, { email, name: `Relayed ${i}` });
        emails.push(email);
      }
    };
    await signUpMany(0, 100);
    await fleet.startWorker({ WORKER_CONCURRENCY: "16" });
    apps.push(startApp("apps/scheduler/src/main.ts", env));

    // Killed between its Nudge transaction and marking the outbox rows; then between marking them and enqueueing.
    for (const failpoint of ["after-nudge-write", "after-outbox-mark"]) {
      const relay = startApp("apps/relay/src/main.ts", { ...env, NUDGE_RELAY_FAILPOINT: failpoint });
      expect(await relay.exited).toBe("SIGKILL");
    }
    const relayed = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM nudge_outbox WHERE relayed_at IS NOT NULL");
    expect(relayed.rows[0]!.n).toBeGreaterThan(0); // the second kill came after marking a batch

    // Three relays at once, while more signups come in.
    for (let r = 0; r < 3; r++) apps.push(startApp("apps/relay/src/main.ts", env));
    await signUpMany(100, 200);
    await eventually(
      "a welcome email for every signup",
      async () => {
        const counts = welcomes();
        const missing = emails.filter((e) => !counts.has(e));
        if (missing.length === 0) return true;
        throw new Error(`${missing.length} missing, e.g. ${missing.slice(0, 3).join(", ")}`);
      },
      120_000,
    );
    const counts = welcomes();
    expect(emails.filter((e) => counts.get(e) !== 1)).toEqual([]);
    expect(counts.size).toBe(300);
  });

  test("an appointment's cancel relayed before its creation: it ends cancelled and no reminder is sent (a control appointment's is)", async () => {
    const booking = createNudgeClient({ source: "booking-service" });
    const bookingDatabase = `booking_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
    await adminQuery(`CREATE DATABASE "${bookingDatabase}"`);
    const bookingPool = new Pool({ connectionString: databaseUrl(bookingDatabase), max: 2 });
    try {
      await bookingPool.query(outboxMigrationSql());
      const startsAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 90 * 60_000).toISOString(); // the SMS step is due
      const contact = (n: number) => ({ id: `patient-${n}`, name: `Patient ${n}`, phone: `+155501000${n}` });
      const client = await bookingPool.connect();
      try {
        // The cancel (version 2) reached the outbox first, as when two writers race: the relay sees it first.
        const outbox = booking.outbox(client);
        await outbox.cancelAppointment("appt-a-cancel", { appointmentId: "A" }, { version: 2 });
        await outbox.scheduleAppointment("appt-a-create", { appointmentId: "A", contact: contact(81), startsAt }, { version: 1 });
        await outbox.scheduleAppointment("appt-b-create", { appointmentId: "B", contact: contact(82), startsAt }, { version: 1 });
      } finally {
        client.release();
      }
      const env = {
        ...fleet.workerEnv,
        RELAY_SOURCES: JSON.stringify([{ name: "booking-service", url: databaseUrl(bookingDatabase) }]),
        // One batch loop, so the three rows go in one batch, applied in outbox order: the cancel first. With two,
        // SKIP LOCKED may give the cancel to one loop and the creates to the other, which can apply them first.
        RELAY_CONCURRENCY: "1",
        RELAY_POLL_MS: "500",
        SCHEDULER_INTERVAL_MS: "500",
      };
      await fleet.startWorker();
      apps.push(startApp("apps/relay/src/main.ts", env), startApp("apps/scheduler/src/main.ts", env));

      // The control appointment's reminder arrives: by then every pass has looked at both appointments.
      await eventually("appointment B's reminder", async () => (fleet.sim.records({ to: contact(82).phone }).length > 0 ? true : undefined), 60_000);
      const outcomes = await fleet.db.relayRequest.findMany({ where: { source: "booking-service" }, orderBy: { id: "asc" }, select: { idempotencyKey: true, outcome: true } });
      expect(outcomes).toEqual([
        { idempotencyKey: "appt-a-cancel", outcome: "applied" },
        { idempotencyKey: "appt-a-create", outcome: "superseded" },
        { idempotencyKey: "appt-b-create", outcome: "applied" },
      ]);
      expect(fleet.sim.records({ to: contact(81).phone })).toEqual([]);
      expect(fleet.sim.records({ to: contact(82).phone })).toHaveLength(1);
      expect(await fleet.db.delivery.count({ where: { recipient: contact(81).phone } })).toBe(0);
    } finally {
      await bookingPool.end();
      await adminQuery(`DROP DATABASE IF EXISTS "${bookingDatabase}" WITH (FORCE)`);
    }
  });
});
