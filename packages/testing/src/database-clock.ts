import type { Db } from "@nudge/db";

/**
 * Moves the database's clock (nudge_now(), the one clock every statement reads) so that it reads `at` now and runs
 * on from there in real time. Tests only: it writes the nudge_test_clock row that production never has.
 */
export async function setDatabaseClock(db: Db, at: Date): Promise<void> {
  await db.$executeRaw`
    INSERT INTO nudge_test_clock (singleton, offset_ms)
    VALUES (true, (extract(epoch FROM ${at}::timestamptz - now()) * 1000)::bigint)
    ON CONFLICT (singleton) DO UPDATE SET offset_ms = EXCLUDED.offset_ms`;
}

/** Moves the database's clock `ms` ahead (or back, when negative) of where it is. */
export async function advanceDatabaseClock(db: Db, ms: number): Promise<void> {
  await db.$executeRaw`
    INSERT INTO nudge_test_clock (singleton, offset_ms) VALUES (true, ${ms})
    ON CONFLICT (singleton) DO UPDATE SET offset_ms = nudge_test_clock.offset_ms + ${ms}`;
}
