import { oneOffKey } from "@nudge/core";
import { createDb, type Db } from "@nudge/db";
import type { SendGuard } from "@nudge/send-guard";
import { SIMULATOR_TWILIO_AUTH_TOKEN, startSimulator, type Simulator } from "@nudge/simulator";
import { createContact, createOneOffMessage, createTestDatabase, type TestDatabase } from "@nudge/testing";
import { processOneOff } from "../src/one-off.processor";
import { guardOnSimulator } from "./guard-on-simulator";

/** One-off messages (written by the relay) through the send guard, judged by the simulator's record. */
let database: TestDatabase;
let db: Db;
let sim: Simulator;
let guard: SendGuard;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  sim = await startSimulator({ port: 0, twilioAuthToken: SIMULATOR_TWILIO_AUTH_TOKEN });
  guard = guardOnSimulator(db, sim);
});
afterAll(async () => {
  await sim.close();
  await db.$disconnect();
  await database.drop();
});

let requests = 0;
async function oneOff(channel: "sms" | "email", deadlineInMs: number, contact?: { id: number }): Promise<number> {
  requests++;
  return createOneOffMessage(db, { channel, deadlineInMs, body: `Welcome, request ${requests}`, ...(contact && { contact }) });
}

test("a one-off message is sent once through the guard, however often its job runs", async () => {
  const id = await oneOff("email", 3_600_000);
  const payload = { key: oneOffKey(id), messageId: id };
  expect(await processOneOff(payload, { db, guard })).toMatchObject({ state: "sent" });
  expect(await processOneOff(payload, { db, guard })).toMatchObject({ state: "sent" });
  expect(sim.records({ provider: "sendgrid" }).filter((r) => r.subject === "Welcome" && r.body.includes(`request ${requests}`))).toHaveLength(1);
});

test("past its deadline it is skipped, not sent late", async () => {
  const id = await oneOff("sms", -1_000);
  const before = sim.records().length;
  expect(await processOneOff({ key: oneOffKey(id), messageId: id }, { db, guard })).toMatchObject({ state: "skipped", reason: expect.stringMatching(/^past its deadline/) });
  expect(sim.records()).toHaveLength(before);
});

test("an opted-out address is skipped by the claim; a contact without the channel's address is skipped with the reason", async () => {
  const contact = await createContact(db, { email: null });
  const id = await oneOff("email", 3_600_000, contact);
  expect(await processOneOff({ key: oneOffKey(id), messageId: id }, { db, guard })).toMatchObject({
    state: "skipped",
    reason: `contact ${contact.id} has no email address`,
  });
  const suppressed = await createContact(db);
  await db.$executeRaw`INSERT INTO suppressions (channel, address, reason) VALUES ('sms', ${suppressed.phone}, 'STOP')`;
  const id2 = await oneOff("sms", 3_600_000, suppressed);
  expect(await processOneOff({ key: oneOffKey(id2), messageId: id2 }, { db, guard })).toMatchObject({ state: "skipped", reason: "opted out: STOP" });
});

test("a payload whose key does not match its message is refused", async () => {
  const id = await oneOff("sms", 3_600_000);
  await expect(processOneOff({ key: "oneoff.msg-999999", messageId: id }, { db, guard })).rejects.toThrow(/Invalid one-off payload: key: expected oneoff\.msg-/);
});
