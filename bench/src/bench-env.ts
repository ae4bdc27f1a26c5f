import { createCrmGateway } from "@nudge/providers";
import { simulatorProvidersConfig } from "./simulator-providers";
import { randomBytes } from "node:crypto";
import { createDb, ensureDatabase, migrate, type Db } from "@nudge/db";
import { createRedis, deleteQueueKeys, type Redis } from "@nudge/queue";
import { startSimulator, type Simulator } from "@nudge/simulator";
import { Client } from "pg";
import type { BenchConfig } from "./bench-config";
import { progress } from "./report";

/**
 * One section's private world: a database created and migrated from scratch, a random queue prefix and an
 * in-process provider simulator. Nothing carries over between sections (no warm caches, no leftover jobs), and
 * everything is removed afterwards even when the section fails.
 */
export interface BenchEnv {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly db: Db;
  readonly redis: Redis;
  /** Plain SQL on the section's database, for bulk seeding and counting (Prisma would go row by row). */
  readonly sql: Client;
  readonly sim: Simulator;
}

/** The worker's own rule (apps/worker/src/main.ts): a connection per job in flight, within Postgres' 100. */
export function poolSizeFor(concurrency: number): number {
  return Math.min(concurrency + 2, 50);
}

/** Environments not cleaned up yet, so that Ctrl-C can still drop their databases and Redis keys. */
const open = new Set<() => Promise<void>>();

/** Cleans up every environment still open (on SIGINT/SIGTERM: the `finally` blocks will not run). */
export async function cleanUpOpenEnvs(): Promise<void> {
  await Promise.all([...open].map((cleanUp) => cleanUp()));
}

export async function withBenchEnv<T>(config: BenchConfig, options: { poolSize: number }, run: (env: BenchEnv) => Promise<T>): Promise<T> {
  const suffix = randomBytes(4).toString("hex");
  const url = new URL(config.pgAdminUrl);
  url.pathname = `/nudge_bench_${suffix}`;
  const databaseUrl = url.toString();
  await ensureDatabase(databaseUrl);
  const cleanups: (() => Promise<unknown>)[] = [() => dropDatabase(config.pgAdminUrl, `nudge_bench_${suffix}`)];
  const cleanUp = async () => {
    open.delete(cleanUp);
    for (const cleanup of cleanups.splice(0)) {
      await cleanup().catch((error: unknown) => progress(`cleanup failed: ${(error as Error).message}`));
    }
  };
  open.add(cleanUp);
  try {
    await migrate(databaseUrl);
    const sql = new Client({ connectionString: databaseUrl });
    // An idle client whose server went away (a Postgres restart) emits 'error'; unheard, it would kill the run.
    // The next query fails and fails the section instead.
    sql.on("error", (error) => progress(`bench database connection lost: ${error.message}`));
    await sql.connect();
    cleanups.unshift(() => sql.end());
    const db = createDb(databaseUrl, { poolSize: options.poolSize });
    cleanups.unshift(() => db.$disconnect());
    const redis = createRedis(config.redisUrl);
    const prefix = `nudge-bench-${suffix}`;
    cleanups.unshift(async () => {
      const deleted = await deleteQueueKeys(redis, prefix);
      if (deleted > 10_000) progress(`deleted ${deleted.toLocaleString("en-US")} Redis keys under ${prefix}`);
      await redis.quit();
    });
    const sim = await startSimulator({ port: 0 });
    cleanups.unshift(() => sim.close());
    // The deployment step (`nudge hubspot setup`): the simulated portal rejects properties it does not have.
    await createCrmGateway({ ...simulatorProvidersConfig(sim.url).hubspot }).setup();
    return await run({ databaseUrl, redisUrl: config.redisUrl, prefix, db, redis, sql, sim });
  } finally {
    await cleanUp();
  }
}

export async function dropDatabase(pgAdminUrl: string, name: string): Promise<void> {
  const admin = new Client({ connectionString: pgAdminUrl });
  admin.on("error", () => undefined); // the query's own rejection reports it
  await admin.connect();
  try {
    // FORCE: a pool that a failed section could not close must not keep the database alive.
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
