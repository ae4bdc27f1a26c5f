import path from "node:path";
import { loadCampaignFiles } from "@nudge/campaigns";
import { DeliveryLedger, sqlPool } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { REPO_ROOT, type RedisServer, adminQuery, eventually, setDatabaseClock, startRedisServer } from "@nudge/testing";
import { OneOffEnqueuer } from "../src/one-off-enqueuer";
import { SOURCE, contact, createRelayWorld, nudgeRows, type RelayWorld } from "./relay-fixture";

/**
 * The relay in this process, a batch at a time, against real Postgres (Nudge's database and a caller's) and Redis.
 */
let world: RelayWorld;
beforeEach(async () => {
  world = await createRelayWorld();
});
afterEach(() => world.close());

const now = new Date("2026-11-24T08:00:00Z");
const sms = (key: string, who = "u-1", extra: object = {}) => ({
  key,
  kind: "message.send",
  payload: { contact: contact(who), channel: "sms", body: `Welcome ${key}`, ...extra },
});
const schedule = (id: string, version: number, startsAt: string, who = "u-1") => ({
  key: `appt-${id}-v${version}`,
  kind: "appointment.schedule",
  subject: `appointment:${id}`,
  version,
  payload: { appointmentId: id, contact: contact(who), startsAt },
});
const end = (kind: "appointment.cancel" | "appointment.confirm", id: string, version: number) => ({
  key: `appt-${id}-v${version}`,
  kind,
  subject: `appointment:${id}`,
  version,
  payload: { appointmentId: id },
});

/** The one-off handoffs left (see the one_off_handoffs migration), oldest first. */
async function handoffs(db = world.db) {
  return (await nudgeRows<{ messageIds: number[] }>(db, `SELECT message_ids AS "messageIds" FROM one_off_handoffs ORDER BY id`)).map((h) => h.messageIds);
}

async function requests() {
  return nudgeRows<{ key: string; kind: string; outcome: string }>(world.db, `SELECT idempotency_key AS key, kind, outcome FROM relay_requests ORDER BY id`);
}

describe("each request kind", () => {
  it("message.send: a one-off message with its contact, the default deadline on the database's clock, enqueued by id", async () => {
    await setDatabaseClock(world.db, now);
    await world.insert([
      sms("welcome-1"),
      { key: "welcome-2", kind: "message.send", payload: { contact: contact("u-2"), channel: "email", subject: "Hi", body: "Hello", deadline: "2026-11-25T00:00:00Z" } },
    ]);
    const { relay, enqueuer } = world.relay();
    expect(await relay.relayBatch()).toMatchObject({ claimed: 2, applied: 2, duplicates: 0 });

    const messages = await nudgeRows<{ id: number; channel: string; subject: string | null; deadline: Date; contactId: number; enqueued: boolean }>(
      world.db,
      `SELECT id, channel::text AS channel, subject, deadline, contact_id AS "contactId", enqueued FROM one_off_messages ORDER BY id`,
    );
    expect(messages.map((m) => [m.channel, m.subject])).toEqual([["sms", null], ["email", "Hi"]]);
    // 24 hours (ONE_OFF_DEFAULT_DEADLINE_HOURS) from the database's clock, which reads `now`, not the test's.
    expect(Math.abs(messages[0]!.deadline.getTime() - (now.getTime() + 24 * 3_600_000))).toBeLessThan(60_000);
    expect(messages[1]!.deadline.toISOString()).toBe("2026-11-25T00:00:00.000Z");

    const refs = await nudgeRows<{ externalId: string; nudgeId: number }>(
      world.db,
      `SELECT external_id AS "externalId", nudge_id AS "nudgeId" FROM external_refs WHERE source = $1 AND kind = 'contact' ORDER BY external_id`,
      [SOURCE],
    );
    expect(refs.map((r) => [r.externalId, r.nudgeId])).toEqual([["u-1", messages[0]!.contactId], ["u-2", messages[1]!.contactId]]);
    expect((await requests()).map((r) => r.outcome)).toEqual(["applied", "applied"]);

    // Written with one handoff for the batch, deleted once both jobs are added. The jobs carry ids only; their keys
    // are their jobIds.
    expect(messages.every((m) => m.enqueued)).toBe(true);
    await eventually("both jobs added and the batch's handoff deleted", async () => ((await handoffs()).length === 0 ? true : undefined));
    expect(await world.queue.getJobCountByTypes("waiting", "delayed")).toBe(2);
    expect(enqueuer.backlog).toBe(0);
    const job = await world.queue.getJob(`oneoff.msg-${messages[0]!.id}`);
    expect(job?.data).toEqual({ key: `oneoff.msg-${messages[0]!.id}`, messageId: messages[0]!.id });

    const outbox = await world.outboxRows();
    expect(outbox.every((r) => r.relayedAt !== null && r.attempts === 1 && r.lastError === null)).toBe(true);
  });

  it("a contact is created once per source and id; later requests update it, a request relayed late does not", async () => {
    const [first, second, third] = await world.insert([
      sms("c-1", "u-1"),
      { ...sms("c-2", "u-1"), payload: { contact: { ...contact("u-1"), name: "Renamed", phone: "+15550100099" }, channel: "sms", body: "x" } },
      { ...sms("c-3", "u-1"), payload: { contact: { id: "u-1", name: "Late", email: "late@example.com" }, channel: "sms", body: "x" } },
    ]);
    // Rows 1, 2, 3 in the caller's order; relayed as 1, 3, 2 (row 2 in another relay's slower batch).
    const { applier } = world.relay();
    const rowOf = async (id: number) => {
      const { rows } = await world.outbox.pool.query(
        `SELECT id::text AS id, source, idempotency_key AS "idempotencyKey", kind, subject, subject_version::text AS "subjectVersion", payload FROM nudge_outbox WHERE id = $1`,
        [id],
      );
      return rows[0];
    };
    await applier.apply(SOURCE, await rowOf(first!));
    await applier.apply(SOURCE, await rowOf(third!));
    await applier.apply(SOURCE, await rowOf(second!));
    const contacts = await nudgeRows<{ name: string; phone: string; email: string }>(world.db, `SELECT name, phone, email FROM contacts`);
    // Row 3 (newest) set the name and email and left out the phone (kept); row 2 (older, relayed last) changed nothing.
    expect(contacts).toEqual([{ name: "Late", phone: "+15550100001", email: "late@example.com" }]);
  });

  it("appointment.schedule creates, a newer version reschedules, confirm and cancel end it as the product does", async () => {
    await world.insert([schedule("A-1", 1, "2026-12-01T09:00:00Z"), schedule("A-1", 2, "2026-12-01T10:00:00Z")]);
    const { relay } = world.relay();
    expect(await relay.relayBatch()).toMatchObject({ applied: 2 });
    const [appt] = await nudgeRows<{ id: number; startsAt: Date; status: string }>(world.db, `SELECT id, starts_at AS "startsAt", status::text AS status FROM appointments`);
    expect(appt).toMatchObject({ startsAt: new Date("2026-12-01T10:00:00Z"), status: "scheduled" });

    // A waiting reminder of it is cancelled with it, in the relay's transaction (DeliveryLedger.cancelAppointment).
    const [c] = await nudgeRows<{ id: number; phone: string }>(world.db, `SELECT id, phone FROM contacts`);
    const reminder = await new DeliveryLedger(world.db).create({
      idempotencyKey: "reminder.test",
      kind: "reminder",
      source: { type: "appointment", id: appt!.id, at: appt!.startsAt },
      contactId: c!.id,
      step: 1,
      channel: "sms",
      recipient: c!.phone,
      body: "see you",
      deadline: appt!.startsAt,
    });
    await world.insert([end("appointment.confirm", "A-1", 3)]);
    await relay.relayBatch();
    expect((await nudgeRows<{ status: string }>(world.db, `SELECT status::text AS status FROM appointments`))[0]!.status).toBe("confirmed");
    expect((await new DeliveryLedger(world.db).byId(reminder.id))!.state).toBe("cancelled");

    // A reschedule of a confirmed appointment needs confirming again: scheduled at the new time.
    await world.insert([schedule("A-1", 4, "2026-12-02T10:00:00Z")]);
    await relay.relayBatch();
    expect((await nudgeRows<{ status: string }>(world.db, `SELECT status::text AS status FROM appointments`))[0]!.status).toBe("scheduled");

    await world.insert([end("appointment.cancel", "A-1", 5)]);
    await relay.relayBatch();
    const [ref] = await nudgeRows<{ nudgeId: number; version: string; state: string }>(
      world.db,
      `SELECT nudge_id AS "nudgeId", version::text AS version, state FROM external_refs WHERE kind = 'appointment'`,
    );
    expect(ref).toEqual({ nudgeId: appt!.id, version: "5", state: "cancelled" });
    expect((await nudgeRows<{ status: string }>(world.db, `SELECT status::text AS status FROM appointments`))[0]!.status).toBe("cancelled");
    expect((await requests()).map((r) => r.outcome)).toEqual(["applied", "applied", "applied", "applied", "applied"]);
  });

  it("lead.enroll enrolls in the latest version; lead.stop stops it with the caller's reason", async () => {
    await loadCampaignFiles(world.db, [path.join(REPO_ROOT, "campaigns/demo-welcome.yaml")]);
    await world.insert([{ key: "enroll-1", kind: "lead.enroll", payload: { contact: contact("lead-1"), campaignId: "demo-welcome" } }]);
    const { relay } = world.relay();
    expect(await relay.relayBatch()).toMatchObject({ applied: 1 });
    const enrollments = () =>
      nudgeRows<{ campaignId: string; state: string; stopReason: string | null }>(
        world.db,
        `SELECT campaign_id AS "campaignId", state::text AS state, stop_reason AS "stopReason" FROM enrollments`,
      );
    expect(await enrollments()).toEqual([{ campaignId: "demo-welcome", state: "active", stopReason: null }]);

    await world.insert([{ key: "stop-1", kind: "lead.stop", payload: { contactId: "lead-1", campaignId: "demo-welcome", reason: "became a customer" } }]);
    await relay.relayBatch();
    expect(await enrollments()).toEqual([{ campaignId: "demo-welcome", state: "stopped", stopReason: "became a customer" }]);
    expect((await requests()).map((r) => r.outcome)).toEqual(["applied", "applied"]);
  });

  it("an enroll cut off between its two transactions is finished by the retry, and enrolls once", async () => {
    await loadCampaignFiles(world.db, [path.join(REPO_ROOT, "campaigns/demo-welcome.yaml")]);
    await world.insert([{ key: "enroll-r", kind: "lead.enroll", payload: { contact: contact("lead-r"), campaignId: "demo-welcome", reenroll: true } }]);
    const { relay } = world.relay();
    await relay.relayBatch();
    // As a relay killed after enroll() committed and before the outcome was written would leave it; and the round
    // has ended since, so that enroll() itself, with reenroll, would start another.
    await nudgeRows(world.db, `UPDATE relay_requests SET outcome = 'applying'`);
    await nudgeRows(world.db, `UPDATE enrollments SET state = 'stopped', stop_reason = 'replied', next_due_at = NULL`);
    await world.outbox.pool.query(`UPDATE nudge_outbox SET relayed_at = NULL`);
    expect(await relay.relayBatch()).toMatchObject({ claimed: 1, applied: 1 });
    expect((await requests()).map((r) => r.outcome)).toEqual(["applied"]);
    expect(await nudgeRows(world.db, `SELECT id FROM enrollments`)).toHaveLength(1);
  });

  it("refuses what can never be applied, records why in both databases, and goes on with the batch", async () => {
    await world.insert([
      { key: "bad-1", kind: "message.send", payload: { contact: contact("u-1"), channel: "sms", body: "" } },
      { key: "bad-2", kind: "message.fax", payload: {} },
      { key: "bad-3", kind: "lead.enroll", payload: { contact: contact("u-1"), campaignId: "no-such-campaign" } },
      { key: "bad-4", kind: "message.send", payload: { contact: { id: "u-9", name: "No Phone", email: "np@example.com" }, channel: "sms", body: "hi" } },
      { key: "bad-5", kind: "appointment.cancel", payload: { appointmentId: "A-9" } },
      { key: "bad-6", kind: "appointment.cancel", subject: "appointment:A-1", version: 2, payload: { appointmentId: "A-9" } },
      sms("good-1"),
    ]);
    const { relay } = world.relay();
    expect(await relay.relayBatch()).toMatchObject({ claimed: 7, applied: 1, refused: 6 });
    const outcomes = Object.fromEntries((await requests()).map((r) => [r.key, r.outcome]));
    expect(outcomes["bad-1"]).toMatch(/^refused: Invalid message.send request "bad-1": payload.body: a body may not be empty/);
    expect(outcomes["bad-2"]).toMatch(/^refused: Invalid message.fax request "bad-2": kind: "message.fax" is not a request kind/);
    expect(outcomes["bad-3"]).toMatch(/^refused: campaignId: campaign "no-such-campaign" is not loaded/);
    expect(outcomes["bad-4"]).toMatch(/^refused: contact "u-9" has no phone number/);
    expect(outcomes["bad-5"]).toMatch(/^refused: Invalid appointment.cancel request "bad-5": subject_version: appointment.cancel changes a versioned subject and needs its version/);
    // A subject that is not the payload's would apply the version to another appointment than the one it was for.
    expect(outcomes["bad-6"]).toMatch(/^refused: .*subject: the payload makes it "appointment:A-9", the row says "appointment:A-1"/);
    expect(outcomes["good-1"]).toBe("applied");
    // Refused means nothing of it stays: no contact for u-9, no message but good-1's.
    expect(await nudgeRows(world.db, `SELECT id FROM one_off_messages`)).toHaveLength(1);
    expect(await nudgeRows(world.db, `SELECT 1 FROM external_refs WHERE external_id = 'u-9'`)).toHaveLength(0);
    const outbox = await world.outboxRows();
    expect(outbox.every((r) => r.relayedAt !== null)).toBe(true);
    expect(outbox.find((r) => r.key === "bad-2")!.lastError).toMatch(/^refused: Invalid message.fax request/);
    expect(outbox.find((r) => r.key === "good-1")!.lastError).toBeNull();
  });
});

describe("a batch in one transaction", () => {
  it("messages for one contact in one batch: created once, updated in row order, a row with no address refused and without effect", async () => {
    await world.insert([
      { key: "f-1", kind: "message.send", payload: { contact: { id: "u-9", name: "No Phone", email: "np@example.com" }, channel: "sms", body: "hi" } },
      { key: "f-2", kind: "message.send", payload: { contact: { id: "u-9", name: "Has Phone", phone: "+15550100042" }, channel: "sms", body: "hi" } },
      { key: "f-3", kind: "message.send", payload: { contact: { id: "u-9", name: "Renamed", email: "u9@example.com" }, channel: "sms", body: "hi" } },
      schedule("A-3", 1, "2026-12-01T09:00:00Z", "u-9"),
      sms("f-4", "u-10"),
    ]);
    const { relay } = world.relay();
    expect(await relay.relayBatch()).toMatchObject({ claimed: 5, applied: 4, refused: 1 });
    expect(Object.fromEntries((await requests()).map((r) => [r.key, r.outcome]))).toMatchObject({
      "f-1": expect.stringMatching(/^refused: contact "u-9" has no phone number/),
      "f-2": "applied",
      "f-3": "applied",
      "f-4": "applied",
    });
    // f-1 left nothing; f-2 created u-9, f-3 renamed it and kept its phone; the schedule (newer still) renamed it again.
    const contacts = await nudgeRows<{ name: string; phone: string; email: string | null }>(world.db, `SELECT name, phone, email FROM contacts ORDER BY id`);
    expect(contacts).toEqual([
      { name: "Person u-9", phone: "+15550100001", email: "u-9@example.com" },
      { name: "Person u-10", phone: "+15550100001", email: "u-10@example.com" },
    ]);
    const messages = await nudgeRows<{ contactId: number }>(world.db, `SELECT contact_id AS "contactId" FROM one_off_messages ORDER BY id`);
    expect(messages).toHaveLength(3);
    const refs = await nudgeRows<{ externalId: string; version: string }>(
      world.db,
      `SELECT external_id AS "externalId", version::text AS version FROM external_refs WHERE kind = 'contact' ORDER BY external_id`,
    );
    const ids = (await world.outboxRows()).map((r) => String(r.id));
    expect(refs).toEqual([{ externalId: "u-10", version: ids[4] }, { externalId: "u-9", version: ids[3] }]);
  });

  it("three batch loops at once over 600 rows for 30 shared contacts: every row relayed once, each request one message, contacts at their newest row", async () => {
    const rows = Array.from({ length: 600 }, (_, i) => sms(`loop-${i}`, `u-${i % 30}`, { body: `row ${i}` }));
    // Each contact's name changes with every row: the newest row (highest outbox id) must win, whichever loop has it.
    for (const [i, row] of rows.entries()) row.payload.contact = { ...row.payload.contact, name: `Name ${i}` };
    await world.insert(rows);
    const { relay } = world.relay({ batchSize: 20, concurrency: 3, pollMs: 100 });
    relay.start();
    await eventually("every row relayed", async () => ((await world.outboxRows()).every((r) => r.relayedAt) ? true : undefined), 60_000);
    const outbox = await world.outboxRows();
    expect(outbox.filter((r) => r.attempts !== 1 || r.lastError !== null)).toEqual([]);
    const applied = await requests();
    expect(applied).toHaveLength(600);
    expect(applied.every((r) => r.outcome === "applied")).toBe(true);
    const messages = await nudgeRows<{ requestId: number }>(world.db, `SELECT request_id AS "requestId" FROM one_off_messages`);
    expect(new Set(messages.map((m) => m.requestId)).size).toBe(600);
    expect(messages).toHaveLength(600);
    const contacts = await nudgeRows<{ name: string }>(world.db, `SELECT name FROM contacts ORDER BY name`);
    expect(contacts.map((c) => c.name).sort()).toEqual(Array.from({ length: 30 }, (_, k) => `Name ${570 + k}`).sort());
  }, 90_000);

  it("claims rows in numeric id order: the first batch of 5 of 12 rows is rows 1 to 5, not 1, 10, 11, 12, 2", async () => {
    const ids = await world.insert(Array.from({ length: 12 }, (_, i) => sms(`o-${i + 1}`, `u-${i + 1}`)));
    const { relay } = world.relay({ batchSize: 5 });
    expect(await relay.relayBatch()).toMatchObject({ claimed: 5, applied: 5 });
    expect((await world.outboxRows()).filter((r) => r.relayedAt !== null).map((r) => r.id)).toEqual(ids.slice(0, 5));
    expect(await relay.relayBatch()).toMatchObject({ claimed: 5 });
    expect(await relay.relayBatch()).toMatchObject({ claimed: 2 });
    expect((await world.outboxRows()).every((r) => r.relayedAt !== null)).toBe(true);
  });

  it("one row Postgres rejects: the batch is applied row by row, that row refused, the others applied", async () => {
    await nudgeRows(
      world.db,
      `CREATE FUNCTION reject_poison() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF NEW.body = 'poison' THEN RAISE EXCEPTION 'poisoned body' USING ERRCODE = '22023'; END IF; RETURN NEW; END $$`,
    );
    await nudgeRows(world.db, `CREATE TRIGGER reject_poison BEFORE INSERT ON one_off_messages FOR EACH ROW EXECUTE FUNCTION reject_poison()`);
    await world.insert([sms("p-1"), { ...sms("p-2", "u-2"), payload: { contact: contact("u-2"), channel: "sms", body: "poison" } }, sms("p-3", "u-3")]);
    const { relay } = world.relay();
    expect(await relay.relayBatch()).toMatchObject({ claimed: 3, applied: 2, refused: 1, duplicates: 0 });
    expect(Object.fromEntries((await requests()).map((r) => [r.key, r.outcome]))).toEqual({ "p-1": "applied", "p-2": "refused: poisoned body", "p-3": "applied" });
    expect(await nudgeRows(world.db, `SELECT id FROM one_off_messages`)).toHaveLength(2);
    expect((await world.outboxRows()).every((r) => r.relayedAt !== null && r.attempts === 1)).toBe(true);
  });
});

describe("exactly once", () => {
  it("a request applied twice (a relay died before marking its row) is in Nudge once and the row is relayed once", async () => {
    await world.insert([sms("twice-1"), sms("twice-2")]);
    const { relay, applier } = world.relay();
    // The first attempt writes into Nudge's database and dies before marking the outbox row.
    const { rows } = await world.outbox.pool.query(
      `SELECT id::text AS id, source, idempotency_key AS "idempotencyKey", kind, subject, subject_version::text AS "subjectVersion", payload FROM nudge_outbox ORDER BY id LIMIT 1`,
    );
    expect(await applier.apply(SOURCE, rows[0])).toMatchObject({ outcome: "applied", fresh: true });
    expect(await relay.relayBatch()).toMatchObject({ claimed: 2, applied: 1, duplicates: 1 });
    expect(await requests()).toHaveLength(2);
    const messages = (await nudgeRows<{ id: number }>(world.db, `SELECT id FROM one_off_messages ORDER BY id`)).map((m) => m.id);
    expect(messages).toHaveLength(2);
    // Both jobs are added, the first one's too: the attempt that died never added it, and its handoff says so.
    await eventually("both jobs added", async () => ((await world.queue.getJobCountByTypes("waiting", "delayed")) === 2 ? true : undefined));
    expect((await world.queue.getJobs(["waiting", "delayed"])).map((job) => job.data.messageId).sort((a, b) => a - b)).toEqual(messages);
    // The relay's own handoff is gone; the dead attempt's is left for a sweep, which adds its job again (a no-op).
    await eventually("the relay's handoff deleted", async () => ((await handoffs()).length === 1 ? true : undefined));
    expect(await handoffs()).toEqual([[messages[0]]]);
    expect(await relay.relayBatch()).toMatchObject({ claimed: 0 });
  });

  it("a batch holding a request applied before is still applied as one batch: the others new, that one found again", async () => {
    await world.insert([sms("again-1"), sms("again-2"), sms("again-3")]);
    const { applier } = world.relay();
    const { rows } = await world.outbox.pool.query(
      `SELECT id::text AS id, source, idempotency_key AS "idempotencyKey", kind, subject, subject_version::text AS "subjectVersion", payload FROM nudge_outbox ORDER BY id`,
    );
    const before = await applier.apply(SOURCE, rows[1]);
    // Its plain INSERT of the request rows fails on again-2's key; the batch inserts them again skipping it (see
    // insertRequests), instead of failing (PartialBatchError) and leaving the relay to apply row by row.
    const results = await applier.applyBatch(SOURCE, rows);
    expect(results.map((r) => [r.outcome, r.fresh])).toEqual([
      ["applied", true],
      ["applied", false],
      ["applied", true],
    ]);
    expect(results[1]!.requestId).toBe(before.requestId);
    expect((await requests()).map((r) => r.key).sort()).toEqual(["again-1", "again-2", "again-3"]);
    expect(await nudgeRows(world.db, `SELECT id FROM one_off_messages`)).toHaveLength(3);
  });

  it("a row naming another source is refused and never applied, under either name", async () => {
    await world.insert([{ ...sms("forged-1"), source: "billing-service" }, sms("own-1")]);
    const { relay } = world.relay();
    expect(await relay.relayBatch()).toMatchObject({ claimed: 2, applied: 1, forged: 1 });
    expect((await requests()).map((r) => r.key)).toEqual(["own-1"]);
    const forged = (await world.outboxRows()).find((r) => r.key === "forged-1")!;
    expect(forged.relayedAt).not.toBeNull();
    expect(forged.lastError).toMatch(/^refused: source "billing-service" is not this database's source name "signup-service"/);
  });

  it("a cancel relayed before its create: the appointment ends cancelled, the older create is superseded, a newer one re-books it", async () => {
    // The caller wrote the create (v1) and then the cancel (v2); a second relay carried the cancel first.
    await world.insert([end("appointment.cancel", "A-7", 2)]);
    const { relay } = world.relay();
    expect(await relay.relayBatch()).toMatchObject({ applied: 1 });
    await world.insert([schedule("A-7", 1, "2026-12-01T09:00:00Z")]);
    expect(await relay.relayBatch()).toMatchObject({ superseded: 1 });

    expect(await nudgeRows(world.db, `SELECT id FROM appointments`)).toHaveLength(0);
    const refs = () =>
      nudgeRows<{ nudgeId: number | null; version: string; state: string }>(
        world.db,
        `SELECT nudge_id AS "nudgeId", version::text AS version, state FROM external_refs WHERE kind = 'appointment'`,
      );
    expect(await refs()).toEqual([{ nudgeId: null, version: "2", state: "cancelled" }]);
    expect(Object.fromEntries((await requests()).map((r) => [r.key, r.outcome]))).toEqual({ "appt-A-7-v2": "applied", "appt-A-7-v1": "superseded" });

    // The caller books it again (v3): a newer version than the cancel creates it.
    await world.insert([schedule("A-7", 3, "2026-12-03T09:00:00Z")]);
    await relay.relayBatch();
    const [appt] = await nudgeRows<{ id: number; status: string }>(world.db, `SELECT id, status::text AS status FROM appointments`);
    expect(appt!.status).toBe("scheduled");
    expect(await refs()).toEqual([{ nudgeId: appt!.id, version: "3", state: "scheduled" }]);
  });

  it("a schedule newer than a cancel re-books the cancelled appointment; an older one leaves it cancelled", async () => {
    await world.insert([schedule("A-8", 1, "2026-12-01T09:00:00Z"), end("appointment.cancel", "A-8", 3)]);
    const { relay } = world.relay();
    await relay.relayBatch();
    await world.insert([schedule("A-8", 2, "2026-12-01T11:00:00Z")]);
    await relay.relayBatch();
    const status = async () => (await nudgeRows<{ status: string; startsAt: Date }>(world.db, `SELECT status::text AS status, starts_at AS "startsAt" FROM appointments`))[0]!;
    expect(await status()).toEqual({ status: "cancelled", startsAt: new Date("2026-12-01T09:00:00Z") });
    await world.insert([schedule("A-8", 4, "2026-12-01T09:00:00Z")]);
    await relay.relayBatch();
    expect((await status()).status).toBe("scheduled");
  });
});

describe("outages", () => {
  it("Nudge's database down: rows stay in the outbox with attempts and last_error, the relay keeps going and catches up", async () => {
    const { relay } = world.relay({ pollMs: 100 });
    relay.start();
    await world.insert([sms("before-1")]);
    await eventually("the first row relayed", async () => ((await world.outboxRows())[0]!.relayedAt ? true : undefined));

    await adminQuery(`ALTER DATABASE "${world.nudge.name}" ALLOW_CONNECTIONS false`);
    await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [world.nudge.name]);
    try {
      await world.insert([sms("during-1"), sms("during-2")]);
      const waiting = await eventually(
        "a failed attempt recorded on the outbox",
        async () => {
          const rows = (await world.outboxRows()).filter((r) => r.key.startsWith("during"));
          return rows[0]!.attempts > 0 ? rows : undefined;
        },
        15_000,
      );
      expect(waiting.every((r) => r.relayedAt === null)).toBe(true);
      expect(waiting[0]!.lastError).toMatch(/^not relayed yet \(retrying\)/);
      // The claim marks a batch relayed and counts an attempt on every row; the rows not relayed are put back, and
      // only the row that was tried and failed keeps its attempt. The second row was never tried.
      expect(waiting[1]).toMatchObject({ attempts: 0, lastError: null });
    } finally {
      await adminQuery(`ALTER DATABASE "${world.nudge.name}" ALLOW_CONNECTIONS true`);
    }
    await eventually("every row relayed after the outage", async () => ((await world.outboxRows()).every((r) => r.relayedAt) ? true : undefined), 40_000);
    expect(await requests()).toHaveLength(3);
    expect(await nudgeRows(world.db, `SELECT id FROM one_off_messages`)).toHaveLength(3);
  }, 60_000);

  it("wakes on NOTIFY, well before its poll", async () => {
    const { relay } = world.relay({ pollMs: 60_000 });
    relay.start();
    // Give the LISTEN connection a moment, then commit a row: it must be relayed long before the 60 s poll.
    await eventually("listening", async () => {
      const { rows } = await world.outbox.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'`, [world.caller.name]);
      return rows[0]!.n > 0 ? true : undefined;
    });
    const started = Date.now();
    await world.insert([sms("notify-1")]);
    await eventually("relayed", async () => ((await world.outboxRows())[0]!.relayedAt ? true : undefined), 5_000);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("prunes relayed rows past the retention, and only those", async () => {
    await world.insert([sms("old-1"), sms("old-2"), sms("new-1")]);
    const { relay } = world.relay();
    await relay.relayBatch();
    await world.outbox.pool.query(`UPDATE nudge_outbox SET relayed_at = now() - interval '169 hours' WHERE idempotency_key LIKE 'old-%'`);
    await world.insert([sms("unrelayed-1")]);
    expect(await relay.prune()).toBe(2);
    expect((await world.outboxRows()).map((r) => r.key)).toEqual(["new-1", "unrelayed-1"]);
  });
});

describe("the enqueued mark", () => {
  it("a mark that deadlocks with another transaction on the same messages is retried: every message ends marked, its job added once", async () => {
    await world.insert([sms("d-1"), sms("d-2", "u-2"), sms("d-3", "u-3")]);
    // Applied by a relay whose enqueuer is closed, then left as the scheduler's sweep leaves messages whose jobs Redis
    // may have lost: bookmark reset (the mark's case: messages without a handoff).
    const { relay, enqueuer: closed } = world.relay();
    await closed.close();
    expect(await relay.relayBatch()).toMatchObject({ applied: 3 });
    await nudgeRows(world.db, `DELETE FROM one_off_handoffs`);
    await nudgeRows(world.db, `UPDATE one_off_messages SET enqueued = false`);
    const ids = (await nudgeRows<{ id: number }>(world.db, `SELECT id FROM one_off_messages WHERE NOT enqueued ORDER BY id`)).map((r) => r.id);
    expect(ids).toHaveLength(3);
    const deadlocks = async () =>
      Number((await nudgeRows<{ n: string }>(world.db, `SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()`))[0]!.n);
    const deadlocksBefore = await deadlocks();

    // Another transaction (a sweep's reset, say) and the mark take the same messages in opposite orders.
    const other = await sqlPool(world.db).connect();
    const enqueuer = new OneOffEnqueuer({ db: world.db, queue: world.queue, redis: world.redis, logger: createLogger("relay-test", "silent") });
    try {
      await deadlockMarkWith(other, enqueuer, ids);
      // Postgres reports a backend's statistics some time after its transaction ends.
      await eventually("Postgres counting the deadlock", async () => ((await deadlocks()) === deadlocksBefore + 1 ? true : undefined));
      await eventually("the mark retried after its deadlock", async () =>
        (await nudgeRows<{ enqueued: boolean }>(world.db, `SELECT enqueued FROM one_off_messages`)).every((r) => r.enqueued) ? true : undefined,
      );
      expect((await world.queue.getJobs(["waiting", "delayed"])).map((job) => job.data.messageId).sort((a, b) => a - b)).toEqual(ids);
    } finally {
      // Dropped, not reused: a failure may have left its transaction open.
      other.release(true);
      await enqueuer.close();
    }
  });
});

/**
 * Holds the last message in `other`'s transaction, lets `enqueuer` add the jobs and start its mark, which waits for
 * that message while holding the first, then takes the first: a deadlock, which Postgres breaks by aborting the mark
 * (`other` waits 60 s before it looks for deadlocks, the mark the default 1 s). Commits `other`.
 */
async function deadlockMarkWith(other: { query(sql: string, params?: unknown[]): Promise<unknown> }, enqueuer: OneOffEnqueuer, ids: readonly number[]) {
  await other.query("BEGIN");
  await other.query("SET LOCAL deadlock_timeout = '60s'");
  await other.query(`UPDATE one_off_messages SET enqueued = false WHERE id = $1`, [ids[ids.length - 1]]);
  enqueuer.add(ids);
  await eventually("the mark waiting for the last message's lock", async () => {
    const waiting = await nudgeRows(
      world.db,
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE one_off_messages SET enqueued = true%'`,
    );
    return waiting.length > 0 ? true : undefined;
  });
  await other.query(`UPDATE one_off_messages SET enqueued = false WHERE id = $1`, [ids[0]]);
  await other.query("COMMIT");
}

describe("Redis down", () => {
  let redis: RedisServer;
  let local: RelayWorld;
  beforeEach(async () => {
    redis = await startRedisServer();
    local = await createRelayWorld({ redisUrl: redis.url });
  });
  afterEach(async () => {
    await local.close();
    await redis.stop();
  });

  it("requests still reach Nudge's database; their jobs follow when Redis is back", async () => {
    const { relay, enqueuer } = local.relay({ pollMs: 100 });
    relay.start();
    await redis.kill();
    await local.insert([sms("r-1"), sms("r-2", "u-2")]);
    await eventually("both rows relayed while Redis is down", async () => ((await local.outboxRows()).every((r) => r.relayedAt) ? true : undefined));
    expect((await handoffs(local.db)).map((ids) => ids.length)).toEqual([2]);
    expect(enqueuer.backlog).toBe(2);

    await redis.restart();
    await eventually(
      "both enqueued once Redis is back, and their handoff deleted",
      async () => ((await handoffs(local.db)).length === 0 ? true : undefined),
      40_000,
    );
    expect(await local.queue.getJobCountByTypes("waiting", "delayed")).toBe(2);
  }, 60_000);
});
