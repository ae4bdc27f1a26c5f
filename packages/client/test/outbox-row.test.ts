import { createDb, type Db } from "@nudge/db";
import type { Client } from "pg";
import { createNudgeClient, InvalidNudgeRequestError, type NudgeRequest, type OutboxRow, parseOutboxRow } from "../src";
import { createScratchDatabase, type ScratchDatabase } from "./scratch-database";

/** The relay's side of the contract: rows read back from the outbox, by pg and by Prisma, checked by the same code. */

const nudge = createNudgeClient({ source: "booking-service" });
const ada = { id: "user-1", name: "Ada Lovelace", phone: "+15550100001" };
const COLUMNS = "source, idempotency_key, kind, subject, subject_version, payload";

let database: ScratchDatabase;
let sql: Client;
let db: Db;

beforeAll(async () => {
  database = await createScratchDatabase();
  sql = await database.connect();
  db = createDb(database.url, { poolSize: 1 });
  await sql.query("BEGIN");
  const outbox = nudge.outbox(sql);
  await outbox.scheduleAppointment("appt.A-17.v1", { appointmentId: "A-17", contact: ada, startsAt: "2026-11-24T09:00:00Z" }, { version: 1 });
  await outbox.cancelAppointment("appt.A-17.v2", { appointmentId: "A-17" }, { version: 2n });
  await outbox.sendSms("sms-1", { contact: ada, body: "See you at 9" });
  await sql.query("COMMIT");
});
afterAll(async () => {
  await db.$disconnect();
  await sql.end();
  await database.drop();
});

const expected: NudgeRequest[] = [
  {
    source: "booking-service",
    key: "appt.A-17.v1",
    kind: "appointment.schedule",
    payload: { appointmentId: "A-17", contact: ada, startsAt: "2026-11-24T09:00:00Z" },
    subject: "appointment:A-17",
    version: 1n,
  },
  { source: "booking-service", key: "appt.A-17.v2", kind: "appointment.cancel", payload: { appointmentId: "A-17" }, subject: "appointment:A-17", version: 2n },
  { source: "booking-service", key: "sms-1", kind: "message.send", payload: { contact: ada, channel: "sms", body: "See you at 9" }, subject: null, version: null },
];

test("rows read with pg (BIGINT as text) parse into the requests written", async () => {
  const { rows } = await sql.query<OutboxRow>(`SELECT ${COLUMNS} FROM nudge_outbox ORDER BY id`);
  expect(rows.map(parseOutboxRow)).toEqual(expected);
});

test("rows read with Prisma (BIGINT as bigint) parse the same", async () => {
  const rows = await db.$queryRawUnsafe<OutboxRow[]>(`SELECT ${COLUMNS} FROM nudge_outbox ORDER BY id`);
  expect(rows.map(parseOutboxRow)).toEqual(expected);
});

test("a narrowed kind gives its typed payload", () => {
  const request = parseOutboxRow({ source: "booking-service", idempotency_key: "appt.B-2.v3", kind: "appointment.schedule", subject: "appointment:B-2", subject_version: "3", payload: { appointmentId: "B-2", contact: ada, startsAt: "2026-11-25T10:00:00+01:00" } });
  if (request.kind !== "appointment.schedule") throw new Error(`expected appointment.schedule, got ${request.kind}`);
  // Typed by the kind: startsAt is a string, version a bigint.
  expect([request.payload.startsAt, request.version + 1n]).toEqual(["2026-11-25T10:00:00+01:00", 4n]);
});

describe("a row this client would not have written is refused, with the reason", () => {
  const good = { source: "booking-service", idempotency_key: "appt.A-17.v3", kind: "appointment.cancel", subject: "appointment:A-17", subject_version: "3", payload: { appointmentId: "A-17" } };

  test.each<[string, Partial<OutboxRow>, string]>([
    ["a subject other than its payload's", { subject: "appointment:B-1" }, 'subject: the payload makes it "appointment:A-17", the row says "appointment:B-1"'],
    ["a versioned kind without its version", { subject_version: null }, "subject_version: appointment.cancel changes a versioned subject and needs its version"],
    ["a kind Nudge does not know", { kind: "appointment.move" }, 'kind: "appointment.move" is not a request kind'],
    ["a payload that fails its schema", { payload: { appointmentId: "" } }, "payload.appointmentId: an id may not be empty"],
    ["a key this client would refuse", { idempotency_key: "12345" }, "key: an idempotency key may not be digits alone"],
    ["a source that is not a slug", { source: "Booking Service" }, "source: a source name is a slug"],
  ])("%s", (_, change, reason) => {
    expect(() => parseOutboxRow({ ...good, ...change })).toThrow(InvalidNudgeRequestError);
    expect(() => parseOutboxRow({ ...good, ...change })).toThrow(reason);
  });

  test("the same row, unchanged, is accepted", () => {
    expect(parseOutboxRow(good)).toMatchObject({ kind: "appointment.cancel", version: 3n });
  });
});
