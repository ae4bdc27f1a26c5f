import { type Db, sqlPool } from "./client";

/**
 * Refuses a database whose clock a test has moved (a row in nudge_test_clock): outside NODE_ENV=test the apps call
 * this at start-up, so a test offset that leaked into a real database cannot shift every lease and deadline.
 */
export async function assertProductionClock(db: Db): Promise<void> {
  const { rows } = await sqlPool(db).query<{ offset_ms: string }>("SELECT offset_ms FROM nudge_test_clock");
  if (rows[0]) {
    throw new Error(
      `This database's clock is moved by ${rows[0].offset_ms} ms (a row in nudge_test_clock, written by tests only): ` +
        "delete it (DELETE FROM nudge_test_clock) or run with NODE_ENV=test",
    );
  }
}
