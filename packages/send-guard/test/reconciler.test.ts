import { reminderKey } from "@nudge/core";
import { createDb, type Db, DeliveryLedger, EvidenceLedger } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { simulatorProviderEnv, SIMULATOR_TWILIO_AUTH_TOKEN, startSimulator, type Simulator } from "@nudge/simulator";
import { advanceDatabaseClock, createAppointment, createContact, createTestDatabase, databaseNow, setDatabaseClock, type TestDatabase } from "@nudge/testing";
import { type GuardedMessage, leaseFor, type ReconcilerOptions, SendGuard } from "../src";

const TIMEOUT_MS = 1_000;
const SETTLE_MS = 60_000;
let database: TestDatabase;
let db: Db;
let sim: Simulator;
let ledger: DeliveryLedger;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  ledger = new DeliveryLedger(db);
  sim = await startSimulator({ port: 0, twilioAuthToken: SIMULATOR_TWILIO_AUTH_TOKEN });
});
beforeEach(async () => {
  sim.clearFaults();
  // Each test starts on the real clock (the simulator stamps records with it) and moves the database's on its own.
  await setDatabaseClock(db, new Date());
  // Each test counts what one pass did: what earlier tests left unresolved on purpose is put out of its way.
  await db.delivery.updateMany({ where: { state: { in: ["unknown", "pending"] } }, data: { state: "failed", reason: "left by an earlier test" } });
});
afterAll(async () => {
  await sim.close();
  await db.$disconnect();
  await database.drop();
});

function guard(options: { emailActivity?: boolean } = {}): SendGuard {
  const env = simulatorProviderEnv(sim.url);
  return new SendGuard({
    db,
    providers: {
      twilio: { accountSid: env.TWILIO_ACCOUNT_SID!, authToken: env.TWILIO_AUTH_TOKEN!, from: env.TWILIO_FROM_NUMBER!, baseUrl: sim.url, timeoutMs: TIMEOUT_MS },
      sendgrid: { apiKey: env.SENDGRID_API_KEY!, from: env.SENDGRID_FROM_EMAIL!, baseUrl: sim.url, timeoutMs: TIMEOUT_MS, ...options },
    },
    leaseMs: leaseFor(TIMEOUT_MS),
    providerTimeoutMs: TIMEOUT_MS,
    logger: createLogger("test", "silent"),
  });
}

function reconciler(g: SendGuard, email: Partial<ReconcilerOptions["email"]> = {}) {
  return g.reconciler({ settleMs: SETTLE_MS, email: { eventWebhook: true, settleMs: SETTLE_MS, policy: "give-up", ...email }, logger: createLogger("test", "silent") });
}

async function reminder(channel: "sms" | "voice" | "email"): Promise<GuardedMessage> {
  const c = await createContact(db);
  const appt = await createAppointment(db, c.id, { now: await databaseNow(db), inMinutes: 60 });
  const step = { email: 1, sms: 2, voice: 3 }[channel];
  return {
    idempotencyKey: reminderKey({ appointmentId: appt.id, startsAt: appt.startsAt, step }),
    kind: "reminder",
    source: { type: "appointment", id: appt.id, at: appt.startsAt },
    contactId: c.id,
    step,
    channel,
    recipient: (channel === "email" ? c.email : c.phone)!,
    subject: channel === "email" ? "Reminder" : undefined,
    body: `Hi, a reminder of appointment ${appt.id}.`,
    deadline: appt.startsAt,
  };
}

const sentTo = (to: string) => sim.records().filter((r) => r.to === to && r.provider !== "hubspot");
const provider = { sms: "twilio-sms", voice: "twilio-voice", email: "sendgrid" } as const;

/** A message whose send ended `unknown` after `fault` hit the provider. */
async function unknownAfter(g: SendGuard, channel: "sms" | "voice" | "email", fault: "reset" | "accept-then-reset"): Promise<GuardedMessage & { id: number }> {
  const message = await reminder(channel);
  sim.injectFault({ kind: fault, provider: provider[channel] });
  const outcome = await g.deliver(message);
  expect(outcome).toMatchObject({ state: "unknown" });
  return { ...message, id: outcome.deliveryId };
}

describe("Reconciler", () => {
  it("concludes nothing before the settle time has passed since the delivery became unknown", async () => {
    const g = guard();
    const m = await unknownAfter(g, "sms", "reset");
    expect(await reconciler(g).runOnce()).toEqual({ confirmed: 0, resent: 0, superseded: 0, gaveUp: 0, toOperator: 0, deferred: 0 });
    expect((await ledger.byId(m.id))!.state).toBe("unknown");
    expect(sentTo(m.recipient)).toHaveLength(0);
  });

  it("SMS: accepted before the connection broke -> sent with the provider's id, and not sent again", async () => {
    const g = guard();
    const m = await unknownAfter(g, "sms", "accept-then-reset");
    await advanceDatabaseClock(db, SETTLE_MS);
    expect(await reconciler(g).runOnce()).toMatchObject({ confirmed: 1, resent: 0 });
    const [record] = sentTo(m.recipient);
    expect(await ledger.byId(m.id)).toMatchObject({ state: "sent", providerMessageId: record!.id });
    expect(sentTo(m.recipient)).toHaveLength(1);
  });

  it("SMS: never reached the provider -> sent again, exactly once, through the claim", async () => {
    const g = guard();
    const m = await unknownAfter(g, "sms", "reset");
    await advanceDatabaseClock(db, SETTLE_MS);
    const r = reconciler(g);
    expect(await r.runOnce()).toMatchObject({ resent: 1 });
    expect(await r.runOnce()).toMatchObject({ resent: 0, confirmed: 0 });
    expect(sentTo(m.recipient)).toHaveLength(1);
    expect(await ledger.byId(m.id)).toMatchObject({ state: "sent", providerMessageId: sentTo(m.recipient)[0]!.id });
  });

  it("two reconcilers at once still send a never-accepted message once", async () => {
    const g = guard();
    const m = await unknownAfter(g, "sms", "reset");
    await advanceDatabaseClock(db, SETTLE_MS);
    await Promise.all([reconciler(g).runOnce(), reconciler(guard()).runOnce()]);
    expect(sentTo(m.recipient)).toHaveLength(1);
    expect((await ledger.byId(m.id))!.state).toBe("sent");
  });

  it("a resend still goes through the claim: an appointment cancelled meanwhile gets nothing", async () => {
    const g = guard();
    const m = await unknownAfter(g, "sms", "reset");
    await ledger.cancelAppointment(m.source.id, "cancelled");
    await advanceDatabaseClock(db, SETTLE_MS);
    await reconciler(g).runOnce();
    expect(sentTo(m.recipient)).toHaveLength(0);
    expect((await ledger.byId(m.id))!.state).toBe("cancelled");
  });

  // Found by the full chaos run: an SMS answered 5xx after Twilio created it, then superseded by the call before its
  // retry looked it up, ended `skipped` although it had gone out.
  it("a step that got a 5xx and is then superseded becomes unknown, not skipped: found -> sent; never accepted -> skipped, not sent late", async () => {
    const g = guard();
    const ledgerRows = async (ids: number[]) => Promise.all(ids.map(async (id) => (await ledger.byId(id))!));
    const made = await reminder("sms");
    const lost = await reminder("sms");
    const ids: number[] = [];
    for (const [m, fault] of [[made, "accept-then-500"], [lost, "500"]] as const) {
      sim.injectFault({ kind: fault, provider: "twilio-sms" });
      await expect(g.deliver(m)).rejects.toThrow(/500/);
      // The call becomes due before the retry: its creation retires the waiting SMS.
      const call = { ...m, idempotencyKey: m.idempotencyKey.replace(/step-2$/, "step-3"), step: 3, channel: "voice" as const, supersedesEarlierSteps: true };
      await ledger.create(call);
      ids.push((await ledger.byKey(m.idempotencyKey))!.id);
    }
    expect((await ledgerRows(ids)).map((r) => [r.state, r.reason])).toEqual([
      ["unknown", expect.stringMatching(/^superseded by step 3; an earlier attempt got a provider 5xx/)],
      ["unknown", expect.stringMatching(/^superseded by step 3; an earlier attempt got a provider 5xx/)],
    ]);
    await advanceDatabaseClock(db, SETTLE_MS);
    expect(await reconciler(g).runOnce()).toMatchObject({ confirmed: 1, superseded: 1, resent: 0 });
    const [sent, skipped] = await ledgerRows(ids);
    expect(sent).toMatchObject({ state: "sent", providerMessageId: sentTo(made.recipient)[0]!.id });
    expect(skipped).toMatchObject({ state: "skipped", reason: expect.stringMatching(/^superseded by step 3 \(not in the provider's list/) });
    expect(sentTo(made.recipient)).toHaveLength(1);
    expect(sentTo(lost.recipient)).toHaveLength(0);
  });

  it("calls: the one call to that number is ours; none means never accepted; a call another delivery owns is not ours", async () => {
    const g = guard();
    const answered = await unknownAfter(g, "voice", "accept-then-reset");
    const lost = await unknownAfter(g, "voice", "reset");
    await advanceDatabaseClock(db, SETTLE_MS);
    expect(await reconciler(g).runOnce()).toMatchObject({ confirmed: 1, resent: 1 });
    expect(await ledger.byId(answered.id)).toMatchObject({ state: "sent", providerMessageId: sentTo(answered.recipient)[0]!.id });
    expect(sentTo(answered.recipient)).toHaveLength(1);
    expect(sentTo(lost.recipient)).toHaveLength(1);
  });

  it("calls: two calls to the number that no delivery owns -> an operator decides; nothing rings again", async () => {
    const g = guard();
    const first = await unknownAfter(g, "voice", "accept-then-reset");
    // A second reminder to the same number, also accepted and then cut off: two calls, neither attributable.
    const contact = await db.contact.findUniqueOrThrow({ where: { id: first.contactId } });
    const appt = await createAppointment(db, contact.id, { now: await databaseNow(db), inMinutes: 90 });
    const second: GuardedMessage = { ...first, idempotencyKey: reminderKey({ appointmentId: appt.id, startsAt: appt.startsAt, step: 3 }), source: { type: "appointment", id: appt.id, at: appt.startsAt }, deadline: appt.startsAt };
    sim.injectFault({ kind: "accept-then-reset", provider: "twilio-voice" });
    const secondId = (await g.deliver(second)).deliveryId;
    await advanceDatabaseClock(db, SETTLE_MS);
    expect(await reconciler(g).runOnce()).toMatchObject({ toOperator: 2, resent: 0, confirmed: 0 });
    expect(sentTo(first.recipient)).toHaveLength(2);
    const rows = await db.delivery.findMany({ where: { id: { in: [first.id, secondId] } } });
    for (const row of rows) expect(row).toMatchObject({ state: "unknown", awaitingOperatorSince: expect.any(Date) });
  });

  it("a status report received while the message was in flight settles it: accepted -> sent, undelivered -> undelivered", async () => {
    const g = guard();
    const evidence = new EvidenceLedger(db);
    const delivered = await unknownAfter(g, "email", "reset");
    const bounced = await unknownAfter(g, "email", "reset");
    // Reports arrive while the rows are still being resolved (the webhooks app writes them; see apps/api's tests).
    await db.delivery.updateMany({ where: { id: { in: [delivered.id, bounced.id] } }, data: { state: "sending" } });
    await evidence.recordReport({ provider: "sendgrid", eventKey: `e-${delivered.id}`, deliveryId: delivered.id, providerMessageId: "sg-1", status: "delivered" });
    await evidence.recordReport({ provider: "sendgrid", eventKey: `e-${bounced.id}`, deliveryId: bounced.id, providerMessageId: "sg-2", status: "bounce", detail: "550 no such user" });
    await db.delivery.updateMany({ where: { id: { in: [delivered.id, bounced.id] } }, data: { state: "unknown" } });
    await advanceDatabaseClock(db, SETTLE_MS);
    expect(await reconciler(g).runOnce()).toMatchObject({ confirmed: 2, resent: 0 });
    expect(await ledger.byId(delivered.id)).toMatchObject({ state: "sent", providerMessageId: "sg-1" });
    expect(await ledger.byId(bounced.id)).toMatchObject({ state: "undelivered", reason: expect.stringMatching(/bounce/) });
  });

  it("email: with the Event Webhook on, no event by the settle time means never accepted -> sent again once", async () => {
    const g = guard();
    const m = await unknownAfter(g, "email", "reset");
    await advanceDatabaseClock(db, SETTLE_MS);
    expect(await reconciler(g).runOnce()).toMatchObject({ resent: 1 });
    expect(sentTo(m.recipient)).toHaveLength(1);
  });

  it("email with the Email Activity API: looked up by delivery id, even when the events were lost: accepted -> sent, never reached -> sent once", async () => {
    const g = guard({ emailActivity: true });
    // No event ever reaches Nudge here (no webhook in this test): only the activity feed can tell.
    const accepted = await unknownAfter(g, "email", "accept-then-reset");
    const lost = await unknownAfter(g, "email", "reset");
    await advanceDatabaseClock(db, SETTLE_MS);
    expect(await reconciler(g).runOnce()).toMatchObject({ confirmed: 1, resent: 1 });
    expect(await ledger.byId(accepted.id)).toMatchObject({ state: "sent", providerMessageId: sentTo(accepted.recipient)[0]!.id });
    expect(sentTo(accepted.recipient)).toHaveLength(1);
    expect(sentTo(lost.recipient)).toHaveLength(1);
  });

  it("email without an evidence source follows the policy: give-up ends it failed, operator flags it, and neither sends", async () => {
    const g = guard();
    const givenUp = await unknownAfter(g, "email", "reset");
    await advanceDatabaseClock(db, SETTLE_MS);
    await reconciler(g, { eventWebhook: false, policy: "give-up" }).runOnce();
    expect(await ledger.byId(givenUp.id)).toMatchObject({ state: "failed", reason: expect.stringMatching(/policy give-up/) });
    const flagged = await unknownAfter(g, "email", "reset");
    await advanceDatabaseClock(db, SETTLE_MS);
    await reconciler(g, { eventWebhook: false, policy: "operator" }).runOnce();
    expect(await db.delivery.findUniqueOrThrow({ where: { id: flagged.id } })).toMatchObject({ state: "unknown", awaitingOperatorSince: expect.any(Date) });
    expect([...sentTo(givenUp.recipient), ...sentTo(flagged.recipient)]).toHaveLength(0);
  });

  it("a resend that the provider refuses is retried by the next pass, still once in all", async () => {
    const g = guard();
    // Email: no list to read first, so the next request to SendGrid is the resend itself.
    const m = await unknownAfter(g, "email", "reset");
    await advanceDatabaseClock(db, SETTLE_MS);
    sim.injectFault({ kind: "429", provider: "sendgrid" });
    const r = reconciler(g);
    expect(await r.runOnce()).toMatchObject({ deferred: 1 });
    expect(await ledger.byId(m.id)).toMatchObject({ state: "pending", reason: expect.stringMatching(/429|not accepted/i) });
    expect(await r.runOnce()).toMatchObject({ resent: 1 });
    expect(sentTo(m.recipient)).toHaveLength(1);
    expect((await ledger.byId(m.id))!.state).toBe("sent");
  });

  it("a provider that fails the lookup leaves the delivery unknown for the next pass, unsent", async () => {
    const g = guard();
    const m = await unknownAfter(g, "sms", "reset");
    await advanceDatabaseClock(db, SETTLE_MS);
    sim.injectFault({ kind: "500", provider: "twilio-sms" });
    const r = reconciler(g);
    expect(await r.runOnce()).toMatchObject({ deferred: 1 });
    expect((await ledger.byId(m.id))!.state).toBe("unknown");
    expect(await r.runOnce()).toMatchObject({ resent: 1 });
    expect(sentTo(m.recipient)).toHaveLength(1);
  });
});
