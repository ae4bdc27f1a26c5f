import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
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
});
