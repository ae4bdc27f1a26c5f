import { ClaimHeldError, NotAcceptedError, reminderKey } from "@nudge/core";
import { createDb, type Db, DeliveryLedger } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { simulatorProviderEnv, SIMULATOR_TWILIO_AUTH_TOKEN, startSimulator, type Simulator } from "@nudge/simulator";
import { createAppointment, createContact, createTestDatabase, databaseNow, type TestDatabase } from "@nudge/testing";
import { type Failpoint, type GuardedMessage, leaseFor, minimumLease, SendGuard, type SendGuardOptions } from "../src";

const TIMEOUT_MS = 1_000;
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
beforeEach(() => {
  sim.clearFaults();
});
afterAll(async () => {
  await sim.close();
  await db.$disconnect();
  await database.drop();
});

function guard(options: Partial<SendGuardOptions> = {}): SendGuard {
  const env = simulatorProviderEnv(sim.url);
  return new SendGuard({
    db,
    providers: {
      twilio: { accountSid: env.TWILIO_ACCOUNT_SID!, authToken: env.TWILIO_AUTH_TOKEN!, from: env.TWILIO_FROM_NUMBER!, baseUrl: sim.url, statusCallbackUrl: "http://127.0.0.1:9/cb", timeoutMs: TIMEOUT_MS },
      sendgrid: { apiKey: env.SENDGRID_API_KEY!, from: env.SENDGRID_FROM_EMAIL!, baseUrl: sim.url, timeoutMs: TIMEOUT_MS },
    },
    leaseMs: leaseFor(TIMEOUT_MS),
    providerTimeoutMs: TIMEOUT_MS,
    logger: createLogger("test", "silent"),
    ...options,
  });
}

async function reminder(channel: "sms" | "voice" | "email", contact?: { id: number; phone: string | null; email: string | null }): Promise<GuardedMessage & { appointmentId: number }> {
  const c = contact ?? (await createContact(db));
  const appt = await createAppointment(db, c.id, { now: await databaseNow(db), inMinutes: 20 });
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
    appointmentId: appt.id,
  };
}

const sentTo = (to: string) => sim.records().filter((r) => r.to === to && r.provider !== "hubspot");

/** A hook that holds the guard at `point` until the test lets go, and says when it got there. */
function gate(point: Failpoint) {
  let reached!: () => void;
  let release!: () => void;
  const arrived = new Promise<void>((r) => (reached = r));
  const released = new Promise<void>((r) => (release = r));
  return {
    hook: async (name: Failpoint) => {
      if (name !== point) return;
      reached();
      await released;
    },
    arrived,
    release,
  };
}

describe("SendGuard", () => {
  it("sends once, then reports the settled delivery to every later attempt", async () => {
    const g = guard();
    const message = await reminder("sms");
    expect(await g.deliver(message)).toMatchObject({ state: "sent" });
    expect(await g.deliver(message)).toMatchObject({ state: "sent" });
    expect(sentTo(message.recipient)).toHaveLength(1);
  });

  it("sends the stored message: a retry that rebuilt the text differently changes nothing", async () => {
    const g = guard();
    const message = await reminder("email");
    await ledger.create(message);
    await g.deliver({ ...message, body: "rebuilt from a renamed contact", subject: "other" });
    expect(sentTo(message.recipient).map((r) => [r.subject, r.body])).toEqual([["Reminder", message.body]]);
  });

  // Hole 4: a SendGrid 5xx was taken as "not accepted" and the email sent again.
  it("a SendGrid 5xx leaves the email unknown and never resends it", async () => {
    const g = guard();
    const message = await reminder("email");
    sim.injectFault({ kind: "500", provider: "sendgrid", times: 1 });
    expect(await g.deliver(message)).toMatchObject({ state: "unknown", reason: expect.stringMatching(/HTTP 500/) });
    expect(await g.deliver(message)).toMatchObject({ state: "unknown" });
    expect(sentTo(message.recipient)).toHaveLength(0);
  });

  // Hole 5: the lookup compared against a body rebuilt from the contact's current details.
  it("after a 5xx, the lookup finds the message by the stored body, whatever the retry rebuilt", async () => {
    const g = guard();
    const message = await reminder("sms");
    sim.injectFault({ kind: "500", provider: "twilio-sms", times: 1 });
    await expect(g.deliver(message)).rejects.toBeInstanceOf(NotAcceptedError);
    // The 500 answered a request that had in fact created the message (as a gateway in front of Twilio may).
    await twilioSms(message.recipient, message.body);
    const outcome = await g.deliver({ ...message, body: "Hi Renamed, a reminder of your appointment." });
    expect(outcome).toMatchObject({ state: "sent", reason: "found by lookup after a provider 5xx" });
    expect(sentTo(message.recipient)).toHaveLength(1);
  });

  // Hole 5: the voice lookup took any call to the number as this reminder.
  it("after a voice 5xx, a call that another delivery made to the number is not taken for this one", async () => {
    const g = guard();
    const contact = await createContact(db);
    const mine = await reminder("voice", contact);
    const other = await reminder("voice", contact);
    sim.injectFault({ kind: "500", provider: "twilio-voice", times: 1 });
    await expect(g.deliver(mine)).rejects.toBeInstanceOf(NotAcceptedError);
    expect(await g.deliver(other)).toMatchObject({ state: "sent" }); // an unrelated call to the same number
    const outcome = await g.deliver(mine);
    expect(outcome).toMatchObject({ state: "unknown", reason: expect.stringMatching(/may be this one/) });
    expect(sentTo(contact.phone!)).toHaveLength(1);
  });

  it("after a voice 5xx with no call to the number, the call is made once (once the list can be trusted)", async () => {
    const g = guard({ lookupSettleMs: 300 });
    const message = await reminder("voice");
    sim.injectFault({ kind: "500", provider: "twilio-voice", times: 1 });
    await expect(g.deliver(message)).rejects.toBeInstanceOf(NotAcceptedError);
    const early = await g.deliver(message).catch((e: unknown) => e);
    if (early instanceof NotAcceptedError) await new Promise((r) => setTimeout(r, early.retryAfterMs));
    expect(await g.deliver(message)).toMatchObject({ state: "sent" });
    expect(sentTo(message.recipient)).toHaveLength(1);
  });

  // Found by the chaos suite: Twilio created the SMS and answered 500; the retry's lookup came 0.4 s later, the list
  // did not show the message yet, and it was sent again.
  it("after a 5xx, a list that lags is not believed until the lag has passed: the retry waits, then finds the message", async () => {
    const message = await reminder("sms");
    sim.setListLag(800);
    try {
      sim.injectFault({ kind: "accept-then-500", provider: "twilio-sms" });
      const g = guard({ lookupSettleMs: 1_500 });
      await expect(g.deliver(message)).rejects.toThrow(NotAcceptedError);
      // At once: the list does not show it yet, and the guard does not believe the list yet either.
      const early = await g.deliver(message).catch((e: unknown) => e);
      expect(early).toBeInstanceOf(NotAcceptedError);
      expect((early as NotAcceptedError).retryAfterMs).toBeGreaterThan(0);
      expect(sentTo(message.recipient)).toHaveLength(1);
      await new Promise((r) => setTimeout(r, (early as NotAcceptedError).retryAfterMs));
      expect(await g.deliver(message)).toMatchObject({ state: "sent", reason: "found by lookup after a provider 5xx" });
      expect(sentTo(message.recipient)).toHaveLength(1);
    } finally {
      sim.setListLag(0);
    }
  });

  it("the wait is what prevents the duplicate: believing a lagging list at once sends the SMS twice", async () => {
    const message = await reminder("sms");
    sim.setListLag(800);
    try {
      sim.injectFault({ kind: "accept-then-500", provider: "twilio-sms" });
      const g = guard({ lookupSettleMs: 1 });
      await expect(g.deliver(message)).rejects.toThrow(NotAcceptedError);
      await new Promise((r) => setTimeout(r, 5));
      expect(await g.deliver(message)).toMatchObject({ state: "sent" });
      expect(sentTo(message.recipient)).toHaveLength(2);
    } finally {
      sim.setListLag(0);
    }
  });

  it("a second attempt waits for a live claim instead of judging it abandoned", async () => {
    const held = gate("after-claim");
    const first = guard({ failpoint: held.hook });
    const message = await reminder("sms");
    const sending = first.deliver(message);
    await held.arrived;
    const error = await guard().deliver(message).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClaimHeldError);
    expect((error as ClaimHeldError).retryAfterMs).toBeGreaterThan(leaseFor(TIMEOUT_MS) - 5_000);
    held.release();
    expect(await sending).toMatchObject({ state: "sent" });
    expect(sentTo(message.recipient)).toHaveLength(1);
  });

  it("a worker that stalls after its claim until too little lease is left gives the claim back unsent", async () => {
    const stalled = gate("after-claim");
    const message = await reminder("sms");
    const g = guard({ leaseMs: minimumLease(TIMEOUT_MS), failpoint: stalled.hook });
    const attempt = g.deliver(message);
    await stalled.arrived;
    await new Promise((r) => setTimeout(r, 1_500)); // the stall itself: the lease runs down meanwhile
    stalled.release();
    await expect(attempt).rejects.toThrow(/claim released unsent/);
    expect(sentTo(message.recipient)).toHaveLength(0);
    expect(await ledger.byKey(message.idempotencyKey)).toMatchObject({ state: "pending" });
    expect(await guard().deliver(message)).toMatchObject({ state: "sent" });
    expect(sentTo(message.recipient)).toHaveLength(1);
  });

  it("a permanent CRM rejection ends the message failed at once, naming the rejection", async () => {
    const message = await reminder("sms");
    const { PermanentProviderError } = await import("@nudge/core");
    const outcome = await guard().deliver(message, {
      crm: async () => {
        throw new PermanentProviderError("HubSpot rejected the request for good (HTTP 400: Property does not exist)", { status: 400 });
      },
    });
    expect(outcome).toMatchObject({ state: "failed", reason: expect.stringMatching(/rejected before sending: .*Property does not exist/) });
    expect(sentTo(message.recipient)).toHaveLength(0);
  });

  it("retries end at the deadline, by the database's clock: the message is skipped with the last error", async () => {
    const message = await reminder("sms");
    const late = { ...message, deadline: new Date((await databaseNow(db)).getTime() + 300) };
    sim.injectFault({ kind: "429", provider: "twilio-sms", times: 100, retryAfterSeconds: 1 });
    await expect(guard().deliver(late)).rejects.toBeInstanceOf(NotAcceptedError);
    await new Promise((r) => setTimeout(r, 400));
    expect(await guard().deliver(late)).toMatchObject({ state: "skipped", reason: expect.stringMatching(/past its deadline.*429|rate-limited/) });
  });
});

// Hole 6, with the guard held at its failpoints while the cancel commits (the statement-level race is in
// packages/db/test/delivery-ledger.test.ts).
describe("cancel wins", () => {
  it("a cancel that commits before the claim: no send starts", async () => {
    const held = gate("before-claim");
    const message = await reminder("sms");
    const attempt = guard({ failpoint: held.hook }).deliver(message);
    await held.arrived;
    const cancel = await ledger.cancelAppointment(message.appointmentId, "cancelled");
    expect(cancel).toMatchObject({ changed: true, inFlight: [] });
    held.release();
    expect(await attempt).toMatchObject({ state: "cancelled", reason: "appointment cancelled" });
    expect(sentTo(message.recipient)).toHaveLength(0);
  });

  it("a cancel that commits after the claim: it reports the message in flight, which is sent once", async () => {
    const held = gate("after-claim");
    const message = await reminder("sms");
    const attempt = guard({ failpoint: held.hook }).deliver(message);
    await held.arrived;
    const delivery = await ledger.byKey(message.idempotencyKey);
    expect(await ledger.cancelAppointment(message.appointmentId, "cancelled")).toEqual({ changed: true, cancelled: [], inFlight: [delivery!.id] });
    held.release();
    expect(await attempt).toMatchObject({ state: "sent" });
    expect(sentTo(message.recipient)).toHaveLength(1);
  });
});

/** A message created at the provider by someone else's request (the simulator's Twilio API over plain HTTP). */
async function twilioSms(to: string, body: string): Promise<void> {
  const env = simulatorProviderEnv(sim.url);
  const response = await fetch(`${sim.url}/2010-04-01/Accounts/${env.TWILIO_ACCOUNT_SID}/Messages.json`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${env.TWILIO_ACCOUNT_SID}:${env.TWILIO_AUTH_TOKEN}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ To: to, From: env.TWILIO_FROM_NUMBER!, Body: body }).toString(),
  });
  if (response.status !== 201) throw new Error(`simulator answered ${response.status}: ${await response.text()}`);
}
