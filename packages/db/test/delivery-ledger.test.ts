import { fixedClock, reminderKey } from "@nudge/core";
import { createAppointment, createContact, createTestDatabase, type TestDatabase } from "@nudge/testing";
import { createDb, type Db, DeliveryLedger, type NewReminderDelivery } from "../src";

let database: TestDatabase;
let db: Db;
const clock = fixedClock(new Date("2026-11-24T08:00:00Z"));
let ledger: DeliveryLedger;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  ledger = new DeliveryLedger(db, clock);
});
afterAll(async () => {
  await db.$disconnect();
  await database.drop();
});

async function newReminder(step = 3): Promise<NewReminderDelivery & { appointmentId: number }> {
  const contact = await createContact(db);
  const appt = await createAppointment(db, contact.id, { now: clock.now(), inMinutes: 20 });
  return {
    idempotencyKey: reminderKey({ appointmentId: appt.id, startsAt: appt.startsAt, step }),
    contactId: contact.id,
    appointmentId: appt.id,
    appointmentStartsAt: appt.startsAt,
    step,
    channel: "sms",
    recipient: contact.phone!,
    body: "hello",
    deadline: appt.startsAt,
  };
}

describe("DeliveryLedger", () => {
  it("creates a delivery once per key, however often it is advanced", async () => {
    const input = await newReminder();
    const a = await ledger.advanceReminder(input);
    const b = await ledger.advanceReminder({ ...input, body: "different" });
    expect(b.id).toBe(a.id);
    expect(b.body).toBe("hello");
    expect(await db.delivery.count({ where: { idempotencyKey: input.idempotencyKey } })).toBe(1);
  });

  it("the database enforces the key even without the ledger", async () => {
    const input = await newReminder();
    await ledger.advanceReminder(input);
    await expect(
      db.delivery.create({
        data: { idempotencyKey: input.idempotencyKey, contactId: input.contactId, channel: "sms", recipient: "x", body: "x", deadline: input.deadline },
      }),
    ).rejects.toThrow(/Unique constraint/);
  });

  it("lets exactly one of many concurrent claimers send", async () => {
    const d = await ledger.advanceReminder(await newReminder());
    const results = await Promise.all(Array.from({ length: 10 }, () => ledger.claim(d.id)));
    expect(results.filter((r) => r.kind === "claimed")).toHaveLength(1);
  });

  it("records only with the current fencing token", async () => {
    const d = await ledger.advanceReminder(await newReminder());
    const first = await ledger.claim(d.id);
    if (first.kind !== "claimed") throw new Error("expected a claim");
    expect(await ledger.recordNotAccepted(d.id, first.token, "503", true)).toBe(true);
    const second = await ledger.claim(d.id);
    if (second.kind !== "claimed") throw new Error("expected a claim");
    expect(second.token).toBe(first.token + 1);
    expect(second.needsLookup).toBe(true);
    expect(await ledger.recordSent(d.id, first.token, "SMold")).toBe(false);
    expect(await ledger.recordSent(d.id, second.token, "SMnew")).toBe(true);
    expect((await ledger.byId(d.id))).toMatchObject({ state: "sent", providerMessageId: "SMnew", needsLookup: false });
  });

  it("turns a delivery left in sending into unknown, never back into pending", async () => {
    const d = await ledger.advanceReminder(await newReminder());
    const crashed = await ledger.claim(d.id);
    expect(crashed.kind).toBe("claimed");
    expect(await ledger.claim(d.id)).toEqual({ kind: "orphaned" });
    const row = await ledger.byId(d.id);
    expect(row?.state).toBe("unknown");
    expect(row?.reason).toMatch(/may have been sent/);
    if (crashed.kind === "claimed") expect(await ledger.recordSent(d.id, crashed.token, "SMlate")).toBe(false);
    expect(await ledger.claim(d.id)).toMatchObject({ kind: "settled", state: "unknown" });
  });

  it("cancel wins: a cancelled appointment's delivery is never claimed", async () => {
    const input = await newReminder();
    const d = await ledger.advanceReminder(input);
    await db.appointment.update({ where: { id: input.appointmentId }, data: { status: "cancelled" } });
    expect(await ledger.claim(d.id)).toEqual({ kind: "cancelled", reason: "appointment cancelled" });
    expect((await ledger.byId(d.id))?.state).toBe("cancelled");
  });

  it("a rescheduled appointment's old reminder is cancelled", async () => {
    const input = await newReminder();
    const d = await ledger.advanceReminder(input);
    await db.appointment.update({ where: { id: input.appointmentId }, data: { startsAt: new Date(input.appointmentStartsAt.getTime() + 3600_000) } });
    expect(await ledger.claim(d.id)).toEqual({ kind: "cancelled", reason: "appointment rescheduled" });
  });

  it("skips a delivery past its deadline", async () => {
    const input = await newReminder();
    const d = await ledger.advanceReminder(input);
    const late = new DeliveryLedger(db, fixedClock(new Date(input.deadline.getTime() + 1000)));
    expect(await late.claim(d.id)).toMatchObject({ kind: "skipped", reason: expect.stringMatching(/past its deadline/) });
  });

  it("retires earlier pending steps when a later step advances", async () => {
    const input = await newReminder(2);
    const early = await ledger.advanceReminder(input);
    const later = await ledger.advanceReminder({ ...input, step: 3, idempotencyKey: input.idempotencyKey.replace("step-2", "step-3") });
    expect((await ledger.byId(early.id))).toMatchObject({ state: "skipped", reason: "superseded by step 3" });
    expect(later.state).toBe("pending");
  });

  it("settles unclaimed deliveries with a reason", async () => {
    const d = await ledger.advanceReminder(await newReminder());
    expect(await ledger.settlePending(d.id, "failed", "gave up")).toBe(true);
    expect(await ledger.settlePending(d.id, "skipped", "again")).toBe(false);
    expect(await ledger.byId(d.id)).toMatchObject({ state: "failed", reason: "gave up" });
  });

  it("skip settles a pending delivery, and reports (or orphans) one that is not pending", async () => {
    const pending = await ledger.advanceReminder(await newReminder());
    expect(await ledger.skip(pending.id, "superseded by step 3")).toEqual({ kind: "skipped", reason: "superseded by step 3" });
    expect(await ledger.skip(pending.id, "again")).toMatchObject({ kind: "settled", state: "skipped", reason: "superseded by step 3" });
    const claimed = await ledger.advanceReminder(await newReminder());
    await ledger.claim(claimed.id);
    expect(await ledger.skip(claimed.id, "superseded by step 3")).toEqual({ kind: "orphaned" });
    expect((await ledger.byId(claimed.id))?.state).toBe("unknown");
  });

  it("settles deliveries whose job was lost: long-claimed -> unknown, pending past the deadline -> skipped", async () => {
    const t0 = clock.now().getTime();
    const abandoned = await ledger.advanceReminder(await newReminder());
    const oldClaim = await ledger.claim(abandoned.id); // claimed at t0
    const recent = await ledger.advanceReminder(await newReminder());
    await new DeliveryLedger(db, fixedClock(new Date(t0 + 50_000))).claim(recent.id); // claimed at t0 + 50 s
    const waiting = await ledger.advanceReminder(await newReminder());

    const at60s = new DeliveryLedger(db, fixedClock(new Date(t0 + 60_000)));
    await at60s.settleAbandoned(30_000);
    expect((await ledger.byId(abandoned.id))?.state).toBe("unknown");
    expect((await ledger.byId(recent.id))?.state).toBe("sending");
    expect((await ledger.byId(waiting.id))?.state).toBe("pending"); // its deadline has not passed
    if (oldClaim.kind === "claimed") expect(await ledger.recordSent(abandoned.id, oldClaim.token, "SMlate")).toBe(false);

    const pastDeadline = new DeliveryLedger(db, fixedClock(new Date(waiting.deadline.getTime() + 31_000)));
    await pastDeadline.settleAbandoned(30_000);
    expect(await ledger.byId(waiting.id)).toMatchObject({ state: "skipped", reason: expect.stringMatching(/its job was lost/) });
  });
});
