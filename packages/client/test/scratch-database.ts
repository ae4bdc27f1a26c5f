import { randomBytes } from "node:crypto";
import { adminQuery, databaseUrl } from "@nudge/testing";
import { Client } from "pg";
import { outboxMigrationSql } from "../src";

export interface ScratchDatabase {
  url: string;
  /** A connected pg client of its own; the caller ends it. */
  connect(): Promise<Client>;
  drop(): Promise<void>;
}

/**
 * An empty database standing for a calling service's own: not Nudge's (no template, none of Nudge's tables), with
 * only the client's migration applied and a `users` table for the service's own rows. The name carries this process's
 * id after `nudge_test_`, so that the suite's global setup drops it if the run dies before afterAll does.
 */
export async function createScratchDatabase(): Promise<ScratchDatabase> {
  const name = `nudge_test_${process.pid}_client_${randomBytes(5).toString("hex")}`;
  await adminQuery(`CREATE DATABASE "${name}"`);
  const url = databaseUrl(name);
  const connect = async () => {
    const client = new Client({ connectionString: url });
    await client.connect();
    return client;
  };
  const setup = await connect();
  try {
    await setup.query(outboxMigrationSql());
    await setup.query("CREATE TABLE users (id SERIAL PRIMARY KEY, email TEXT NOT NULL UNIQUE)");
  } finally {
    await setup.end();
  }
  return { url, connect, drop: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}
