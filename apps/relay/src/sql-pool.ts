import { createDb, sqlPool } from "@nudge/db";

/**
 * A pg pool for a caller's database. Only @nudge/db may import pg, and its createDb is the one way it hands out a
 * pool (sqlPool); the Prisma client it builds over the pool is Nudge's schema and is never used on a caller's
 * database. Ending the pool goes through that client ($disconnect ends the pool it owns).
 */
export interface SqlPool {
  pool: ReturnType<typeof sqlPool>;
  end(): Promise<void>;
}

export function openSqlPool(databaseUrl: string, size: number): SqlPool {
  const db = createDb(databaseUrl, { poolSize: size });
  return { pool: sqlPool(db), end: () => db.$disconnect() };
}

const connect = (pool: SqlPool["pool"]) => pool.connect();
/** A connection checked out of a pool: for a transaction, or held for LISTEN. */
export type SqlClient = Awaited<ReturnType<typeof connect>>;

/**
 * Whether an error means "this request's data cannot be stored" (SQLSTATE class 22, data exception, or 23, integrity
 * constraint violation), which retrying will not change, as opposed to a server or connection problem, which it will.
 */
export function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && /^2[23][0-9A-Z]{3}$/.test(code);
}

export async function rollback(client: SqlClient): Promise<void> {
  await client.query("ROLLBACK").catch(() => undefined);
}
