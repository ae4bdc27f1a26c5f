import { readFileSync } from "node:fs";
import path from "node:path";
import { createNudgeClient, outboxMigrationSql } from "@nudge/client";
import type { Pool } from "pg";

/** The name this service writes its requests under: Nudge's relay is configured with it (RELAY_SOURCES). */
export const SOURCE = "signup-service";

const nudge = createNudgeClient({ source: SOURCE });

/** The service's own schema and Nudge's outbox, in its own database. Idempotent. */
export async function migrateSignupService(pool: Pool): Promise<void> {
  await pool.query(readFileSync(path.join(__dirname, "../sql/001_users.sql"), "utf8"));
  await pool.query(outboxMigrationSql());
}

export interface Signup {
  email: string;
  name: string;
}

/**
 * A signup: the user and its welcome email, in one transaction of this service's database. Either both commit or
 * neither does; there is no second write to lose (no enqueue here: Nudge's relay reads the outbox). The email's key
 * is derived from the user, so a retried signup request cannot ask for a second email.
 *
 * `failAfterWrites` is for the example's test: it throws after both writes, inside the transaction, as a crash or a
 * failing check would, so that the rollback can be seen to take the email with it.
 */
export async function signUp(pool: Pool, signup: Signup, options: { failAfterWrites?: boolean } = {}): Promise<{ userId: number }> {
  const client = await pool.connect();
  // A connection cut between two statements (a database restart) emits `error` on the client; without a listener
  // that would crash the service. The statement in flight fails and reports it below instead.
  const onError = () => undefined;
  client.on("error", onError);
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ id: string }>("INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id", [signup.email, signup.name]);
    const userId = Number(rows[0]!.id);
    await nudge.outbox(client).sendEmail(`welcome-user-${userId}`, {
      contact: { id: `user-${userId}`, name: signup.name, email: signup.email },
      subject: `Welcome, ${signup.name}`,
      body: `Hi ${signup.name}, welcome aboard. Your account is ready.`,
    });
    if (options.failAfterWrites) throw new Error("signup aborted after its writes (test)");
    await client.query("COMMIT");
    return { userId };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.off("error", onError);
    client.release();
  }
}
