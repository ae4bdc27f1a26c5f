import { connectionErrorCause, maskUrlPassword, withDeadline } from "@nudge/core";
import { Client } from "pg";

/**
 * PostgreSQL did not answer a start-up check. The message is one line that names the server, its URL (password
 * masked) and the fix, so that a cron mail or a terminal shows the cause instead of a stack trace.
 */
export class PostgresUnavailableError extends Error {
  override readonly name = "PostgresUnavailableError";
}

/**
 * Connects and runs `SELECT 1`, failing within `timeoutMs` whatever the server does: refused, unreachable, or a
 * server that accepts TCP and never answers (stopped, overloaded, a firewall that swallows packets). Apps run it
 * before anything else opens a connection, since Prisma and the migration runner would wait or retry without a bound.
 *
 * A server that answers with an error is answering: a missing database is left to the command (`nudge migrate`
 * creates it; the apps say which migration command to run), while a refused login is reported here.
 */
export async function checkPostgres(databaseUrl: string, options: { timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on("error", () => undefined); // a failure is reported once, through the rejected promise below
  try {
    await withDeadline(
      (async () => {
        await client.connect();
        await client.query("SELECT 1");
      })(),
      timeoutMs,
      () => new Error(`no answer within ${timeoutMs / 1000} s`),
    );
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "3D000") return; // database does not exist: the server answered
    throw describe(databaseUrl, error as Error, timeoutMs);
  } finally {
    // Not awaited: ending a connection to a server that never answers would wait as long as the server does.
    client.end().catch(() => undefined);
  }
}

function describe(databaseUrl: string, error: Error, timeoutMs: number): PostgresUnavailableError {
  const where = maskUrlPassword(databaseUrl);
  const code = (error as { code?: string }).code;
  // A five-character SQLSTATE means the server answered (bad password, no such role, too many connections).
  if (code && /^[0-9A-Z]{5}$/.test(code)) {
    return new PostgresUnavailableError(`PostgreSQL at ${where} refused the connection (${connectionErrorCause(error)}): check DATABASE_URL`);
  }
  const reason = /timeout|terminated/i.test(error.message) ? `no answer within ${timeoutMs / 1000} s` : connectionErrorCause(error);
  return new PostgresUnavailableError(
    `PostgreSQL is not answering at ${where} (${reason}): start it (docker compose up -d postgres) or set DATABASE_URL`,
  );
}
