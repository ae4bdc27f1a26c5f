import { readFileSync } from "node:fs";
import path from "node:path";
import type { Client } from "pg";
import { createNudgeClient, OUTBOX_CHANNEL, OUTBOX_TABLE, outboxMigrationSql } from "../src";
import { createScratchDatabase, type ScratchDatabase } from "./scratch-database";

let database: ScratchDatabase;
let sql: Client;

beforeAll(async () => {
  database = await createScratchDatabase();
  sql = await database.connect();
});
afterAll(async () => {
  await sql.end();
  await database.drop();
});

test("outboxMigrationSql() is the file the package ships", () => {
  const file = readFileSync(path.join(__dirname, "..", "sql", "001_nudge_outbox.sql"), "utf8");
  expect(outboxMigrationSql()).toBe(file);
  expect([OUTBOX_TABLE, OUTBOX_CHANNEL]).toEqual(["nudge_outbox", "nudge_outbox"]);
});

test("it creates the table as the contract says", async () => {
  const { rows } = await sql.query(
    `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
     WHERE table_name = 'nudge_outbox' ORDER BY ordinal_position`,
  );
  expect(rows.map((c) => [c.column_name, c.data_type, c.is_nullable === "YES"])).toEqual([
    ["id", "bigint", false],
    ["source", "text", false],
    ["idempotency_key", "text", false],
    ["kind", "text", false],
    ["subject", "text", true],
    ["subject_version", "bigint", true],
    ["payload", "jsonb", false],
    ["created_at", "timestamp with time zone", false],
    ["relayed_at", "timestamp with time zone", true],
    ["attempts", "integer", false],
    ["last_error", "text", true],
  ]);
  const indexes = await sql.query("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'nudge_outbox' ORDER BY indexname");
  expect(indexes.rows).toEqual([
    { indexname: "nudge_outbox_pkey", indexdef: expect.stringContaining("(id)") },
    { indexname: "nudge_outbox_source_key", indexdef: expect.stringContaining("UNIQUE INDEX nudge_outbox_source_key ON public.nudge_outbox USING btree (source, idempotency_key)") },
    { indexname: "nudge_outbox_unrelayed_idx", indexdef: expect.stringMatching(/\(id\) WHERE \(relayed_at IS NULL\)$/) },
  ]);
  const triggers = await sql.query(
    `SELECT tgname, pg_get_triggerdef(t.oid) AS def FROM pg_trigger t WHERE tgrelid = 'nudge_outbox'::regclass AND NOT tgisinternal`,
  );
  expect(triggers.rows).toEqual([
    { tgname: "nudge_outbox_notify", def: expect.stringContaining("AFTER INSERT ON public.nudge_outbox FOR EACH STATEMENT EXECUTE FUNCTION nudge_outbox_notify()") },
  ]);
});

test("running it again, twice, changes nothing and keeps the rows", async () => {
  await sql.query("BEGIN");
  await createNudgeClient({ source: "signup-service" }).outbox(sql).sendSms("sms-1", { contact: { id: "u-1", name: "Ada", phone: "+15550100001" }, body: "Hi" });
  await sql.query("COMMIT");
  const shape = () =>
    sql.query(
      `SELECT (SELECT count(*) FROM pg_indexes WHERE tablename = 'nudge_outbox') AS indexes,
              (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'nudge_outbox'::regclass AND NOT tgisinternal) AS triggers,
              (SELECT count(*) FROM pg_proc WHERE proname = 'nudge_outbox_notify') AS functions,
              (SELECT count(*) FROM nudge_outbox) AS rows`,
    );
  const before = (await shape()).rows;

  await sql.query(outboxMigrationSql());
  await sql.query(outboxMigrationSql());

  expect((await shape()).rows).toEqual(before);
  expect(before).toEqual([{ indexes: "3", triggers: "1", functions: "1", rows: "1" }]);
});
