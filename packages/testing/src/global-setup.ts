import { Client } from "pg";
import { migrate } from "@nudge/db";
import { ADMIN_DATABASE_URL, databaseUrl, templateDatabase } from "./env";

/**
 * Builds one migrated template database per run; every test file clones it (CREATE DATABASE ... TEMPLATE), which
 * takes a fraction of a second and isolates files from each other. Databases left by a crashed earlier run go too,
 * but never those of another run still going on this machine.
 */
export default async function globalSetup(): Promise<void> {
  process.env.NUDGE_TEST_RUN = String(process.pid);
  const template = templateDatabase();
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    const stale = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'nudge_test_%'",
    );
    for (const { datname } of stale.rows) {
      const run = /^nudge_test_(\d+)_/.exec(datname)?.[1];
      if (run !== undefined && run !== String(process.pid) && isAlive(Number(run))) continue;
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
    await admin.query(`CREATE DATABASE "${template}"`);
  } finally {
    await admin.end();
  }
  await migrate(databaseUrl(template));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
