import { Client } from "pg";
import { migrate } from "@nudge/db";
import { ADMIN_DATABASE_URL, TEMPLATE_DATABASE, databaseUrl } from "./env";

/**
 * Builds one migrated template database per run; every test file clones it (CREATE DATABASE ... TEMPLATE), which
 * takes a fraction of a second and isolates files from each other. Databases left by a crashed earlier run go too.
 */
export default async function globalSetup(): Promise<void> {
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    const stale = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'nudge_test_%'",
    );
    for (const { datname } of stale.rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${TEMPLATE_DATABASE}"`);
  } finally {
    await admin.end();
  }
  await migrate(databaseUrl(TEMPLATE_DATABASE));
}
