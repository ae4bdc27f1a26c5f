/**
 * What the client needs of the caller's database handle, as structural types, so that the package depends on neither
 * `pg` nor `@prisma/client`: any version whose shape fits will do.
 */

/** A `pg` Client or PoolClient (after BEGIN), or anything with pg's `query(text, values)`. */
export interface PgQueryable {
  query(text: string, values?: unknown[]): PromiseLike<{ rowCount: number | null }>;
}

/** A Prisma interactive transaction client (the `tx` of `prisma.$transaction(async (tx) => ...)`). */
export interface PrismaTransactionLike {
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

export type OutboxTransaction = PgQueryable | PrismaTransactionLike;

/** Runs one statement on the caller's handle and returns the number of rows it wrote. */
export type StatementRunner = (sql: string, values: unknown[]) => Promise<number>;

/**
 * How to run a statement on the handle, decided once, when the caller hands it over: a handle of neither shape is a
 * mistake to report at `outbox(tx)`, not at the first write. Prisma's is tried first: its clients have no `query`.
 */
export function statementRunner(tx: OutboxTransaction): StatementRunner {
  if (typeof (tx as Partial<PrismaTransactionLike> | undefined)?.$executeRawUnsafe === "function") {
    const prisma = tx as PrismaTransactionLike;
    return async (sql, values) => prisma.$executeRawUnsafe(sql, ...values);
  }
  if (typeof (tx as Partial<PgQueryable> | undefined)?.query === "function") {
    const pg = tx as PgQueryable;
    return async (sql, values) => (await pg.query(sql, values)).rowCount ?? 0;
  }
  throw new TypeError(
    "outbox(tx): tx must be a pg client in a transaction (it has query()) or a Prisma interactive transaction client (it has $executeRawUnsafe())",
  );
}
