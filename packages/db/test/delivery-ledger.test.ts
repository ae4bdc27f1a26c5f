import { canTransition, type DeliveryState, reminderKey } from "@nudge/core";
import { advanceDatabaseClock, createAppointment, createContact, createTestDatabase, databaseNow, setDatabaseClock, type TestDatabase } from "@nudge/testing";
import { Client } from "pg";
import { assertProductionClock, ClaimLedger, createDb, type Db, DeliveryLedger, type NewDelivery } from "../src";

let database: TestDatabase;
let db: Db;
let ledger: DeliveryLedger;
let claims: ClaimLedger;
const LEASE_MS = 30_000;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  ledger = new DeliveryLedger(db);
  claims = new ClaimLedger(db);
});
beforeEach(async () => {
  await db.$executeRaw`DELETE FROM nudge_test_clock`;
});
afterAll(async () => {
  await db.$disconnect();
  await database.drop();
});

async function newReminder(step = 3, inMinutes = 20): Promise<NewDelivery & { appointmentId: number; startsAt: Date }> {
  const contact = await createContact(db);
  const appt = await createAppointment(db, contact.id, { now: await databaseNow(db), inMinutes });
  return {
    idempotencyKey: reminderKey({ appointmentId: appt.id, startsAt: appt.startsAt, step }),
    kind: "reminder",
    source: { type: "appointment", id: appt.id, at: appt.startsAt },
    contactId: contact.id,
    step,
    channel: "sms",
    recipient: contact.phone!,
    body: "hello",
    deadline: appt.startsAt,
    supersedesEarlierSteps: true,
    appointmentId: appt.id,
    startsAt: appt.startsAt,
  };
}

async function claimed(id: number) {
  const claim = await claims.claimDelivery(id, LEASE_MS);
  if (claim.kind !== "claimed") throw new Error(`expected a claim, got ${JSON.stringify(claim)}`);
  return claim;
}

/** A client of its own, for a transaction the test holds open while the ledger runs on the pool. */
async function openTransaction(): Promise<Client> {
  const client = new Client({ connectionString: database.url });
  await client.connect();
  await client.query("BEGIN");
  return client;
}

/** Resolves once some statement of this database waits for a row lock: the event a race test means. */
async function lockWaitSeen(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const rows = await db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
    if (rows[0]!.n > 0n) return;
    if (Date.now() > deadline) throw new Error("no statement started waiting for a lock within 10 s");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("DeliveryLedger.create", () => {
  it("creates a delivery once per key, however often it is called", async () => {
    const input = await newReminder();
    const a = await ledger.create(input);
    const b = await ledger.create({ ...input, body: "different" });
    expect(b.id).toBe(a.id);
    expect(b.body).toBe("hello");
    expect(await db.delivery.count({ where: { idempotencyKey: input.idempotencyKey } })).toBe(1);
  });

  it("the database enforces the key even without the ledger", async () => {
    const input = await newReminder();
    await ledger.create(input);
    await expect(
      db.delivery.create({
        data: { idempotencyKey: input.idempotencyKey, kind: "reminder", sourceType: "appointment", contactId: input.contactId, channel: "sms", recipient: "x", body: "x", deadline: input.deadline },
      }),
    ).rejects.toThrow(/Unique constraint/);
  });

  // Hole 10: the second of two concurrent creations waited for the first's insert and then found nothing.
  it("returns the row when another transaction created the same key while this one waited", async () => {
    const input = await newReminder();
    const other = await openTransaction();
    try {
      const first = await ledger.create(input, other);
      const second = ledger.create(input);
      await lockWaitSeen();
      await other.query("COMMIT");
      expect((await second).id).toBe(first.id);
    } finally {
      await other.end();
    }
  });

  it("retires earlier waiting steps of the same start when a later step is created", async () => {
    const input = await newReminder(2);
    const early = await ledger.create(input);
    const later = await ledger.create({ ...input, step: 3, idempotencyKey: input.idempotencyKey.replace("step-2", "step-3") });
    expect(await ledger.byId(early.id)).toMatchObject({ state: "skipped", reason: "superseded by step 3" });
    expect(later.state).toBe("pending");
  });

  // Hole 1: a stale job for the old start retired the new start's reminders.
  it("a job for an appointment's old start does not retire the new start's steps", async () => {
    const input = await newReminder(2);
    const newStart = new Date(input.startsAt.getTime() + 3600_000);
    await db.appointment.update({ where: { id: input.appointmentId }, data: { startsAt: newStart } });
    const current = await ledger.create({
      ...input,
      idempotencyKey: reminderKey({ appointmentId: input.appointmentId, startsAt: newStart, step: 2 }),
      source: { type: "appointment", id: input.appointmentId, at: newStart },
      deadline: newStart,
    });
    await ledger.create({ ...input, step: 3, idempotencyKey: reminderKey({ appointmentId: input.appointmentId, startsAt: input.startsAt, step: 3 }) });
    expect((await ledger.byId(current.id))?.state).toBe("pending");
  });
});

describe("ClaimLedger", () => {
  it("lets exactly one of many concurrent claimers send", async () => {
    const d = await ledger.create(await newReminder());
    const results = await Promise.all(Array.from({ length: 10 }, () => claims.claimDelivery(d.id, LEASE_MS)));
    expect(results.filter((r) => r.kind === "claimed")).toHaveLength(1);
    expect(results.filter((r) => r.kind === "leased")).toHaveLength(9);
  });

  it("records only with the current fencing token", async () => {
    const d = await ledger.create(await newReminder());
    const first = await claimed(d.id);
    expect(await claims.recordNotAccepted(d.id, first.token, "503", true)).toBe(true);
    const second = await claimed(d.id);
    expect(second.token).toBe(first.token + 1);
    expect(second.needsLookup).toBe(true);
    expect(await claims.recordSent(d.id, first.token, "SMold")).toBe(false);
    expect(await claims.recordSent(d.id, second.token, "SMnew")).toBe(true);
    expect(await ledger.byId(d.id)).toMatchObject({ state: "sent", providerMessageId: "SMnew", needsLookup: false });
  });

  // Hole 2: any second claimer turned a young claim into unknown at once.
  it("a live claim is left alone until its lease ends by the database's clock, then becomes unknown, never pending", async () => {
    const d = await ledger.create(await newReminder());
    const holder = await claimed(d.id);
    const second = await claims.claimDelivery(d.id, LEASE_MS);
    expect(second).toMatchObject({ kind: "leased" });
    expect(second.kind === "leased" && second.retryInMs).toBeGreaterThan(LEASE_MS - 5_000);
    expect((await ledger.byId(d.id))?.state).toBe("sending");

    await advanceDatabaseClock(db, LEASE_MS + 1_000);
    expect(await claims.claimDelivery(d.id, LEASE_MS)).toMatchObject({ kind: "orphaned", reason: expect.stringMatching(/may have been sent/) });
    expect(await ledger.byId(d.id)).toMatchObject({ state: "unknown" });
    expect(await claims.recordSent(d.id, holder.token, "SMlate")).toBe(false);
    expect(await claims.claimDelivery(d.id, LEASE_MS)).toMatchObject({ kind: "settled", state: "unknown" });
  });

  it("a rescheduled appointment's old reminder is cancelled", async () => {
    const input = await newReminder();
    const d = await ledger.create(input);
    await db.appointment.update({ where: { id: input.appointmentId }, data: { startsAt: new Date(input.startsAt.getTime() + 3600_000) } });
    expect(await claims.claimDelivery(d.id, LEASE_MS)).toEqual({ kind: "cancelled", reason: "appointment rescheduled" });
  });

  // Hole 7: deadlines were judged by the worker's clock.
  it("judges the deadline by the database's clock", async () => {
    const input = await newReminder();
    const d = await ledger.create(input);
    await setDatabaseClock(db, new Date(input.deadline.getTime() + 1000));
    expect(await claims.claimDelivery(d.id, LEASE_MS)).toMatchObject({ kind: "skipped", reason: expect.stringMatching(/past its deadline/) });
  });

  // Hole 3: out of time after a 5xx, the delivery was recorded failed though the message may exist.
  it("a delivery whose last attempt got a 5xx ends unknown, not skipped or failed, once it cannot be retried", async () => {
    const input = await newReminder();
    const d = await ledger.create(input);
    const claim = await claimed(d.id);
    await claims.recordNotAccepted(d.id, claim.token, "not accepted: HTTP 500", true);
    await setDatabaseClock(db, new Date(input.deadline.getTime() + 1000));
    expect(await claims.claimDelivery(d.id, LEASE_MS)).toMatchObject({ kind: "unknown", reason: expect.stringMatching(/5xx.*may exist/) });
    expect((await ledger.byId(d.id))?.state).toBe("unknown");
  });

  it("skips an opted-out recipient in the claim", async () => {
    const input = await newReminder();
    const d = await ledger.create(input);
    await db.suppression.create({ data: { channel: "sms", address: input.recipient, reason: "replied STOP" } });
    expect(await claims.claimDelivery(d.id, LEASE_MS)).toEqual({ kind: "skipped", reason: "opted out: replied STOP" });
  });

  it("a skip reason settles a waiting delivery, and reports one that is not waiting", async () => {
    const pending = await ledger.create(await newReminder());
    expect(await claims.claimDelivery(pending.id, LEASE_MS, "superseded by step 3")).toEqual({ kind: "skipped", reason: "superseded by step 3" });
    expect(await claims.claimDelivery(pending.id, LEASE_MS, "again")).toMatchObject({ kind: "settled", state: "skipped", reason: "superseded by step 3" });
  });
});

// Hole 6: the claim's check of the appointment took no lock, so a cancel committing during the claim did not stop it.
describe("cancel wins", () => {
  it("a cancel that commits while the claim waits on it stops the claim", async () => {
    const input = await newReminder();
    const d = await ledger.create(input);
    const cancelling = await openTransaction();
    try {
      const cancel = await ledger.cancelAppointment(input.appointmentId, "cancelled", cancelling);
      expect(cancel).toEqual({ changed: true, cancelled: [d.id], inFlight: [] });
      const claim = claims.claimDelivery(d.id, LEASE_MS);
      await lockWaitSeen(); // the claim is blocked on the appointment row the cancel holds
      await cancelling.query("COMMIT");
      expect(await claim).toMatchObject({ kind: "settled", state: "cancelled", reason: "appointment cancelled" });
    } finally {
      await cancelling.end();
    }
  });

  it("a cancel after the claim committed reports the message in flight and leaves the claim to finish", async () => {
    const input = await newReminder();
    const d = await ledger.create(input);
    const claim = await claimed(d.id);
    expect(await ledger.cancelAppointment(input.appointmentId, "cancelled")).toEqual({ changed: true, cancelled: [], inFlight: [d.id] });
    expect(await claims.recordSent(d.id, claim.token, "SM1")).toBe(true);
  });

  it("a confirmed appointment's waiting reminders are cancelled; a second cancel changes nothing", async () => {
    const input = await newReminder();
    const d = await ledger.create(input);
    expect(await ledger.cancelAppointment(input.appointmentId, "confirmed")).toEqual({ changed: true, cancelled: [d.id], inFlight: [] });
    expect(await ledger.cancelAppointment(input.appointmentId, "cancelled")).toEqual({ changed: false, cancelled: [], inFlight: [] });
    expect(await ledger.byId(d.id)).toMatchObject({ state: "cancelled", reason: "appointment confirmed" });
  });
});

describe("settleAbandoned", () => {
  it("settles what a lost job left: an expired claim -> unknown, waiting past the deadline -> skipped", async () => {
    const abandoned = await ledger.create(await newReminder());
    const oldClaim = await claimed(abandoned.id);
    const waitingInput = await newReminder(3, 1);
    const waiting = await ledger.create(waitingInput);

    await advanceDatabaseClock(db, LEASE_MS - 5_000);
    const recent = await ledger.create(await newReminder());
    await claimed(recent.id);
    await advanceDatabaseClock(db, 10_000); // the first lease ended 5 s ago, the second has 25 s left
    expect((await ledger.settleAbandoned(1_000)).unknown).toBeGreaterThanOrEqual(1); // earlier tests left claims too
    expect((await ledger.byId(abandoned.id))?.state).toBe("unknown");
    expect((await ledger.byId(recent.id))?.state).toBe("sending");
    expect((await ledger.byId(waiting.id))?.state).toBe("pending"); // its deadline has not passed
    expect(await claims.recordSent(abandoned.id, oldClaim.token, "SMlate")).toBe(false);

    await setDatabaseClock(db, new Date(waitingInput.deadline.getTime() + 31_000));
    await ledger.settleAbandoned(30_000);
    expect(await ledger.byId(waiting.id)).toMatchObject({ state: "skipped", reason: expect.stringMatching(/its job was lost/) });
  });
});

describe("assertProductionClock", () => {
  it("refuses a database whose clock a test has moved, and accepts it once the offset is gone", async () => {
    await advanceDatabaseClock(db, 60_000);
    await expect(assertProductionClock(db)).rejects.toThrow(/clock is moved by 60000 ms.*DELETE FROM nudge_test_clock/);
    await db.$executeRaw`DELETE FROM nudge_test_clock`;
    await expect(assertProductionClock(db)).resolves.toBeUndefined();
  });
});

// packages/core's delivery-state machine is the one the ledger enforces: every state change the claim and the record
// statements make is an allowed transition, and the statements refuse the ones the machine forbids.
describe("the delivery state machine", () => {
  const observed: [DeliveryState, DeliveryState][] = [];
  async function step(id: number, change: () => Promise<unknown>): Promise<void> {
    const before = (await ledger.byId(id))!.state;
    await change();
    const after = (await ledger.byId(id))!.state;
    if (after !== before) observed.push([before, after]);
  }

  it("every transition the ledger makes is one canTransition allows", async () => {
    const sent = await ledger.create(await newReminder());
    await step(sent.id, () => claimed(sent.id));
    await step(sent.id, async () => claims.recordSent(sent.id, (await ledger.byId(sent.id))!.fencingToken, "SM1"));

    const retried = await ledger.create(await newReminder());
    await step(retried.id, () => claimed(retried.id));
    await step(retried.id, async () => claims.recordNotAccepted(retried.id, (await ledger.byId(retried.id))!.fencingToken, "503", true));
    await step(retried.id, () => claimed(retried.id));
    await step(retried.id, async () => claims.recordFailed(retried.id, (await ledger.byId(retried.id))!.fencingToken, "21610"));

    const ambiguous = await ledger.create(await newReminder());
    await step(ambiguous.id, () => claimed(ambiguous.id));
    await step(ambiguous.id, async () => claims.recordUnknown(ambiguous.id, (await ledger.byId(ambiguous.id))!.fencingToken, "reset"));

    const skipped = await ledger.create(await newReminder());
    await step(skipped.id, () => claims.claimDelivery(skipped.id, LEASE_MS, "superseded by step 3"));

    const cancelledInput = await newReminder();
    const cancelled = await ledger.create(cancelledInput);
    await step(cancelled.id, () => ledger.cancelAppointment(cancelledInput.appointmentId, "cancelled"));

    const orphanInput = await newReminder();
    const orphan = await ledger.create(orphanInput);
    await step(orphan.id, () => claimed(orphan.id));
    await advanceDatabaseClock(db, LEASE_MS + 1_000);
    await step(orphan.id, () => claims.claimDelivery(orphan.id, LEASE_MS));

    const maybeSentInput = await newReminder();
    const maybeSent = await ledger.create(maybeSentInput);
    await step(maybeSent.id, () => claimed(maybeSent.id));
    await step(maybeSent.id, async () => claims.recordNotAccepted(maybeSent.id, (await ledger.byId(maybeSent.id))!.fencingToken, "500", true));
    await setDatabaseClock(db, new Date(maybeSentInput.deadline.getTime() + 1_000));
    await step(maybeSent.id, () => claims.claimDelivery(maybeSent.id, LEASE_MS));

    const kinds = observed.map(([from, to]) => `${from}->${to}`);
    expect(new Set(kinds)).toEqual(
      new Set(["pending->sending", "sending->sent", "sending->pending", "sending->failed", "sending->unknown", "pending->skipped", "pending->cancelled", "pending->unknown"]),
    );
    for (const [from, to] of observed) expect([from, to, canTransition(from, to)]).toEqual([from, to, true]);
  });

  it("refuses what the machine forbids: no record without a claim, no claim of a settled delivery", async () => {
    const d = await ledger.create(await newReminder());
    expect(await claims.recordSent(d.id, 0, "SMx")).toBe(false); // pending -> sent
    const claim = await claimed(d.id);
    await claims.recordSent(d.id, claim.token, "SM1");
    for (const state of ["pending", "sending", "skipped"] as const) expect(canTransition("sent", state)).toBe(false);
    expect(await claims.claimDelivery(d.id, LEASE_MS)).toMatchObject({ kind: "settled", state: "sent" });
    expect(await claims.recordNotAccepted(d.id, claim.token, "late 503", true)).toBe(false); // sent -> pending
    expect(await ledger.byId(d.id)).toMatchObject({ state: "sent" });
  });
});
