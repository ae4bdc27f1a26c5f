import { randomBytes } from "node:crypto";
import { createDb, type Db } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { createTestDatabase, type TestDatabase } from "@nudge/testing";
import { buildWebhooks, type WebhooksApp } from "../src";
import { deliveryRow, makeDelivery, snapshot, suppressionsFor } from "./fixtures";
import { listen, type Client } from "./http-client";
import { sendGridSigner } from "./signing";

const signer = sendGridSigner();
let database: TestDatabase;
let db: Db;
let app: WebhooksApp;
let client: Client;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, { poolSize: 3 });
  app = buildWebhooks({ db, logger: createLogger("api-test", "silent"), sendGrid: { publicKey: signer.publicKey } });
  client = await listen(app);
});
afterAll(async () => {
  client.close();
  await app.close();
  await db.$disconnect();
  await database.drop();
});

const messageId = () => randomBytes(11).toString("base64url");
const eventId = () => randomBytes(16).toString("base64url").slice(0, 22);

/** One event as SendGrid posts it: custom_args flattened in, sg_message_id = X-Message-Id + ".filter..." */
function event(delivery: { id: number; recipient: string; providerMessageId: string | null }, name: string, extra: Record<string, unknown> = {}) {
  return {
    email: delivery.recipient,
    timestamp: Math.floor(Date.now() / 1000),
    "smtp-id": `<${delivery.providerMessageId}@ismtpd0001p1iad2.sendgrid.net>`,
    event: name,
    sg_event_id: eventId(),
    sg_message_id: `${delivery.providerMessageId}.filter0001.16648.5515E0B88.0`,
    deliveryId: String(delivery.id),
    ...extra,
  };
}

/** Posts a batch signed over its exact bytes; SendGrid's bodies end with CRLF, which the signature covers. */
function post(events: unknown, options: { sign?: boolean; raw?: string } = {}) {
  const body = options.raw ?? `${JSON.stringify(events)}\r\n`;
  return client.request({
    url: "/webhooks/sendgrid/events",
    headers: { "content-type": "application/json", ...(options.sign !== false && signer.headers(body)) },
    payload: body,
  });
}

const emailDelivery = (state: "sent" | "unknown" = "sent") => makeDelivery(db, "email", state, { providerMessageId: messageId() });

describe("SendGrid events", () => {
  it("records processed then delivered on a sent email", async () => {
    const d = await emailDelivery();
    const res = await post([event(d, "processed"), event(d, "delivered", { response: "250 OK" })]);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ received: 2, duplicates: 0 });
    expect(await deliveryRow(db, d.id)).toMatchObject({ state: "sent", providerStatus: "delivered", providerOutcome: "accepted" });
    const reports = await db.$queryRaw<Array<{ status: string; detail: string | null }>>`
      SELECT status, detail FROM provider_events WHERE delivery_id = ${d.id} ORDER BY id`;
    expect(reports).toEqual([{ status: "processed", detail: null }, { status: "delivered", detail: "250 OK" }]);
  });

  it("resolves an `unknown` email from SendGrid's message id when the delivery id is absent", async () => {
    const d = await makeDelivery(db, "email", "unknown", { providerMessageId: messageId() });
    const { deliveryId: _omitted, ...withoutId } = event(d, "delivered");
    expect((await post([withoutId])).statusCode).toBe(200);
    expect(await deliveryRow(db, d.id)).toMatchObject({ state: "sent", providerStatus: "delivered" });
  });

  it("makes a bounced email `undelivered` and suppresses the address for email only", async () => {
    const d = await emailDelivery();
    const reason = "550 5.1.1 The email account that you tried to reach does not exist.";
    const res = await post([event(d, "processed"), event(d, "bounce", { reason, status: "5.1.1", type: "bounce" })]);
    expect(res.statusCode).toBe(200);
    const row = await deliveryRow(db, d.id);
    expect(row).toMatchObject({ state: "undelivered", providerStatus: "bounce" });
    expect(row.reason).toContain(reason);
    expect(await suppressionsFor(db, d.recipient)).toEqual([{ channel: "email", reason: `bounce: ${reason}`, source: "sendgrid" }]);
  });

  it("suppresses on dropped, unsubscribe, group_unsubscribe and spamreport (address lower-cased)", async () => {
    const dropped = await emailDelivery();
    const unsubscribed = await emailDelivery();
    const grouped = await emailDelivery();
    const spam = await emailDelivery();
    const res = await post([
      event(dropped, "dropped", { reason: "Bounced Address" }),
      event(unsubscribed, "unsubscribe", { email: unsubscribed.recipient.toUpperCase() }),
      event(grouped, "group_unsubscribe", { asm_group_id: 42 }),
      event(spam, "spamreport"),
    ]);
    expect(res.statusCode).toBe(200);
    expect(await deliveryRow(db, dropped.id)).toMatchObject({ state: "undelivered", providerStatus: "dropped" });
    expect(await suppressionsFor(db, dropped.recipient)).toEqual([{ channel: "email", reason: "dropped: Bounced Address", source: "sendgrid" }]);
    expect(await suppressionsFor(db, unsubscribed.recipient)).toEqual([{ channel: "email", reason: "unsubscribe", source: "sendgrid" }]);
    expect(await suppressionsFor(db, grouped.recipient)).toEqual([{ channel: "email", reason: "group_unsubscribe", source: "sendgrid" }]);
    expect(await suppressionsFor(db, spam.recipient)).toEqual([{ channel: "email", reason: "spamreport", source: "sendgrid" }]);
    // An unsubscribe says nothing about delivery: the email stays as sent.
    expect(await deliveryRow(db, unsubscribed.id)).toMatchObject({ state: "sent", providerStatus: null });
  });

  it("changes nothing for a replayed batch, or a batch that repeats an sg_event_id", async () => {
    const d = await emailDelivery();
    const bounced = await emailDelivery();
    const processed = event(d, "processed");
    const delivered = event(d, "delivered");
    const bounce = event(bounced, "bounce", { reason: "550 mailbox unavailable" });
    expect((await post([processed, delivered, bounce])).statusCode).toBe(200);
    const before = await snapshot(db);
    // SendGrid posts a batch again when it did not get a 2xx in time: every event in it is one already recorded.
    const replay = await post([processed, delivered, bounce]);
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toEqual({ received: 3, duplicates: 3 });
    const repeated = await post([delivered, delivered]);
    expect(repeated.json()).toEqual({ received: 2, duplicates: 2 });
    expect(await snapshot(db)).toBe(before);
  });

  it("refuses an unsigned, re-serialized or tampered batch with 403 and writes nothing", async () => {
    const d = await emailDelivery();
    const events = [event(d, "bounce", { reason: "forged" })];
    const body = `${JSON.stringify(events)}\r\n`;
    const before = await snapshot(db);
    const attempts = [
      { what: "unsigned", headers: {} },
      { what: "signed without the CRLF (what a receiver that re-serializes would check)", headers: signer.headers(JSON.stringify(events)) },
      { what: "signed at another timestamp", headers: { ...signer.headers(body), "x-twilio-email-event-webhook-timestamp": "1700000000" } },
      { what: "signed by another key", headers: sendGridSigner().headers(body) },
      { what: "garbage signature", headers: { "x-twilio-email-event-webhook-signature": "AAAA", "x-twilio-email-event-webhook-timestamp": "1" } },
    ];
    for (const { what, headers } of attempts) {
      const res = await client.request({ url: "/webhooks/sendgrid/events", headers: { "content-type": "application/json", ...headers }, payload: body });
      expect({ what, status: res.statusCode }).toEqual({ what, status: 403 });
    }
    expect(await snapshot(db)).toBe(before);
  });

  it("refuses a signed batch with a malformed event as a whole (400 naming it), recording none of it", async () => {
    const d = await emailDelivery();
    const before = await snapshot(db);
    const cases: Array<[unknown, RegExp]> = [
      [{ event: "delivered" }, /expected a JSON array/],
      [[event(d, "processed"), { ...event(d, "delivered"), sg_event_id: undefined }], /events\[1\]\.sg_event_id is missing/],
      [[{ ...event(d, "delivered"), event: 7 }], /events\[0\]\.event must be a string/],
      [[{ ...event(d, "delivered"), deliveryId: "twelve" }], /events\[0\]\.deliveryId/],
      [[{ ...event(d, "bounce"), email: undefined }], /events\[0\]\.email is missing/],
      [["delivered"], /events\[0\] is not an event object/],
    ];
    for (const [events, error] of cases) {
      const res = await post(events);
      expect({ status: res.statusCode, error: res.json().error }).toEqual({ status: 400, error: expect.stringMatching(error) });
    }
    expect(await snapshot(db)).toBe(before);
  });

  it("answers 503 when the database does not take the batch, so that SendGrid retries", async () => {
    // A pool pointed at a port where nothing listens: every query fails as with a database that is down.
    const deadDb = createDb("postgresql://postgres@127.0.0.1:9/nudge_nowhere", { poolSize: 1 });
    const down = buildWebhooks({ db: deadDb, logger: createLogger("api-test", "silent"), sendGrid: { publicKey: signer.publicKey } });
    const downClient = await listen(down);
    try {
      const d = await emailDelivery();
      const body = `${JSON.stringify([event(d, "delivered")])}\r\n`;
      const res = await downClient.request({ url: "/webhooks/sendgrid/events", headers: { "content-type": "application/json", ...signer.headers(body) }, payload: body });
      expect(res.statusCode).toBe(503);
      expect(res.json().error).toMatch(/retry later/);
      const health = await downClient.request({ method: "GET", url: "/health" });
      expect(health.statusCode).toBe(503);
    } finally {
      downClient.close();
      await down.close();
      await deadDb.$disconnect();
    }
  });

  it("answers /health while the database answers", async () => {
    const res = await client.request({ method: "GET", url: "/health" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ok" });
  });

  it("answers 404 on the events route when no verification key is configured", async () => {
    const off = buildWebhooks({ db, logger: createLogger("api-test", "silent") });
    const offClient = await listen(off);
    try {
      const body = "[]";
      const res = await offClient.request({ url: "/webhooks/sendgrid/events", headers: { "content-type": "application/json", ...signer.headers(body) }, payload: body });
      expect(res.statusCode).toBe(404);
      expect((await offClient.request({ url: "/webhooks/twilio/status", headers: { "content-type": "application/x-www-form-urlencoded" }, payload: "" })).statusCode).toBe(404);
    } finally {
      offClient.close();
      await off.close();
    }
  });
});
