import { Client } from "pg";
import { adminQuery, createTestDatabase, databaseUrl, type TestDatabase } from "@nudge/testing";
import { assertMigrated, migrate } from "../src";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

describe("migrate", () => {
  it("is idempotent and keeps Prisma's bookkeeping table", async () => {
    // The template database was migrated by the suite's global setup; a second run applies nothing.
    const again = await migrate(database.url);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied.length).toBeGreaterThan(0);
    const client = new Client({ connectionString: database.url });
    await client.connect();
    try {
      const rows = await client.query(`SELECT migration_name, length(checksum) AS len FROM "_prisma_migrations"`);
      expect(rows.rows).toEqual(again.alreadyApplied.map((name) => ({ migration_name: name, len: 64 })));
    } finally {
      await client.end();
    }
  });

  it("tells an app to migrate first when the schema is behind", async () => {
    await expect(assertMigrated(database.url)).resolves.toBeUndefined();
    const name = `${database.name}_empty`;
    await adminQuery(`CREATE DATABASE "${name}"`);
    try {
      await expect(assertMigrated(databaseUrl(name))).rejects.toThrow(/missing migrations 20261123000000_init, .*run `npm run db:migrate`/);
    } finally {
      await adminQuery(`DROP DATABASE "${name}"`);
    }
  });
});
