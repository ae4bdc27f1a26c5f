import { PrismaPg } from "@prisma/adapter-pg";
import { Pool } from "pg";
import { PrismaClient } from "./generated/client";

export type Db = InstanceType<typeof PrismaClient>;

const pools = new WeakMap<Db, Pool>();

/**
 * Prisma through the pg driver adapter: no native query engine, so the same client runs on a machine that cannot
 * download Prisma's binaries. The adapter runs on a pool we create, so that the hot path of the ledger can speak SQL
 * to the same connections directly (see sqlPool); `$disconnect` ends the pool.
 */
export function createDb(databaseUrl: string, options: { poolSize?: number } = {}): Db {
  const pool = new Pool({ connectionString: databaseUrl, max: options.poolSize ?? 10 });
  // A connection that dies while idle (a Postgres restart, pg_terminate_backend) is dropped from the pool; without a
  // listener its error would crash the process.
  pool.on("error", () => undefined);
  // The same for a connection checked out between two statements (a transaction): the server ending it makes the
  // client emit `error`, which the pool only listens to while the client is idle. The next statement on it fails and
  // reports the error where it can be handled; without this listener the process would crash first.
  pool.on("connect", (client) => client.on("error", () => undefined));
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  pools.set(db, pool);
  return db;
}

/**
 * The pool under a Db, for the few statements on every job's path. Prisma's raw queries cost about three times the
 * client CPU of the driver's own (measured by the benchmark), and the ledger runs several per message.
 */
export function sqlPool(db: Db): Pool {
  const pool = pools.get(db);
  if (!pool) throw new Error("sqlPool: this Db was not made by createDb");
  return pool;
}
