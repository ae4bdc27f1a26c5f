import { readFileSync } from "node:fs";
import path from "node:path";

/** The outbox table in the caller's database. */
export const OUTBOX_TABLE = "nudge_outbox";
/** The channel the outbox's trigger notifies on every inserting statement; relays LISTEN on it. */
export const OUTBOX_CHANNEL = "nudge_outbox";

/** The file ships with the package (sql/ sits beside src/ and dist/ alike), so that this text and the file never differ. */
const MIGRATION_FILE = path.join(__dirname, "..", "sql", "001_nudge_outbox.sql");

let migration: string | undefined;

/**
 * The outbox migration (sql/001_nudge_outbox.sql): the nudge_outbox table, its index of unrelayed rows, and the
 * trigger that wakes the relays. Running it again is harmless. It is several statements: run it with `pg` (a query
 * without parameters) or put it in your migration tool; Prisma's `$executeRawUnsafe` takes one statement at a time.
 */
export function outboxMigrationSql(): string {
  migration ??= readFileSync(MIGRATION_FILE, "utf8");
  return migration;
}
