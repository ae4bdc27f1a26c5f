import { createDb, type Db } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { createTestDatabase, type TestDatabase } from "@nudge/testing";
import { buildWebhooks, type WebhooksApp } from "../src";
import { deliveryRow, makeDelivery, sid, snapshot, suppressionsFor } from "./fixtures";
import { listen, type Client } from "./http-client";
import { twilioSignature } from "./signing";

const AUTH_TOKEN = "test-auth-token-0123456789";
// What Twilio calls: the public origin behind the proxy. The app itself listens on 127.0.0.1 and sees that Host.
const PUBLIC_URL = "https://nudge.example.com";
const HELP_TEXT = "Acme Clinic reminders. Questions? Call 555-0100 & ask. Reply STOP to stop.";

let database: TestDatabase;
let db: Db;
let app: WebhooksApp;
let client: Client;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, { poolSize: 3 });
  app = buildWebhooks({ db, logger: createLogger("api-test", "silent"), twilio: { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL }, smsHelpText: HELP_TEXT });
  client = await listen(app);
});
afterAll(async () => {
  client.close();
  await app.close();
  await db.$disconnect();
  await database.drop();
});

type Signing = "valid" | "none" | { token?: string; url?: string; params?: Record<string, string> };

/** Posts a form to `path` (with its query) as Twilio would, signed over the public URL unless told otherwise. */
function twilioPost(path: string, params: Record<string, string>, signing: Signing = "valid") {
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (signing !== "none") {
    const s = signing === "valid" ? {} : signing;
    headers["x-twilio-signature"] = twilioSignature(s.token ?? AUTH_TOKEN, s.url ?? PUBLIC_URL + path, s.params ?? params);
  }
  return client.request({ method: "POST", url: path, headers, payload: new URLSearchParams(params).toString() });
}

const statusPath = (deliveryId: number | string) => `/webhooks/twilio/status?deliveryId=${deliveryId}`;
const smsStatus = (messageSid: string, status: string, extra: Record<string, string> = {}) => ({
  AccountSid: "AC00000000000000000000000000000000",
  MessageSid: messageSid,
  SmsSid: messageSid,
  MessageStatus: status,
  SmsStatus: status,
  From: "+15005550006",
  To: "+15550190001",
  ApiVersion: "2010-04-01",
  ...extra,
});

describe("Twilio status callbacks", () => {
  it("refuses unsigned and forged callbacks with 403 and writes nothing", async () => {
    const messageSid = sid();
    const d = await makeDelivery(db, "sms", "sent", { providerMessageId: messageSid });
    const params = smsStatus(messageSid, "undelivered", { ErrorCode: "30003" });
    const before = await snapshot(db);
    const attempts: Array<[string, Signing, string?]> = [
      ["no signature", "none"],
      ["another account's token", { token: "someone-elses-token-0000" }],
      ["signed over other parameters (status tampered)", { params: smsStatus(messageSid, "delivered") }],
      ["signed for another delivery", { url: PUBLIC_URL + statusPath(d.id + 1) }],
      // A receiver that rebuilt the URL from its Host header would accept this one: Twilio never signs it.
      ["signed over the URL as the app sees it (Host header)", { url: `http://127.0.0.1${statusPath(d.id)}` }],
      ["signed over the path alone", { url: statusPath(d.id) }],
    ];
    for (const [what, signing] of attempts) {
      const res = await twilioPost(statusPath(d.id), params, signing);
      expect({ what, status: res.statusCode }).toEqual({ what, status: 403 });
      expect(res.json().error).toMatch(/X-Twilio-Signature/);
    }
    const garbage = await client.request({
      method: "POST",
      url: statusPath(d.id),
      headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "not base64 at all \u00ff" },
      payload: new URLSearchParams(params).toString(),
    });
    expect(garbage.statusCode).toBe(403);
    expect(await snapshot(db)).toBe(before);
    expect((await deliveryRow(db, d.id)).state).toBe("sent");
  });

  it("records a signed callback once: a replay answers 204 and changes nothing", async () => {
    const messageSid = sid();
    const d = await makeDelivery(db, "sms", "sent", { providerMessageId: messageSid });
    const first = await twilioPost(statusPath(d.id), smsStatus(messageSid, "delivered"));
    expect(first.statusCode).toBe(204);
    expect(await deliveryRow(db, d.id)).toMatchObject({ state: "sent", providerStatus: "delivered", providerOutcome: "accepted" });
    const before = await snapshot(db);
    const replay = await twilioPost(statusPath(d.id), smsStatus(messageSid, "delivered"));
    expect(replay.statusCode).toBe(204);
    expect(await snapshot(db)).toBe(before);
  });

  it("keeps `delivered` when `sent` arrives after it", async () => {
    const messageSid = sid();
    const d = await makeDelivery(db, "sms", "sent", { providerMessageId: messageSid });
    expect((await twilioPost(statusPath(d.id), smsStatus(messageSid, "delivered"))).statusCode).toBe(204);
    expect((await twilioPost(statusPath(d.id), smsStatus(messageSid, "sent"))).statusCode).toBe(204);
    expect(await deliveryRow(db, d.id)).toMatchObject({ state: "sent", providerStatus: "delivered" });
    // Both reports are kept as evidence, in the order they came.
    const events = await db.$queryRaw<Array<{ status: string }>>`SELECT status FROM provider_events WHERE delivery_id = ${d.id} ORDER BY id`;
    expect(events.map((e) => e.status)).toEqual(["delivered", "sent"]);
  });

  it("resolves an `unknown` SMS to `sent` with the provider's message id", async () => {
    const d = await makeDelivery(db, "sms", "unknown");
    const messageSid = sid();
    expect((await twilioPost(statusPath(d.id), smsStatus(messageSid, "sent"))).statusCode).toBe(204);
    const row = await deliveryRow(db, d.id);
    expect(row).toMatchObject({ state: "sent", providerMessageId: messageSid, providerStatus: "sent" });
    expect(row.reason).toMatch(/confirmed by the provider/);
  });

  it("makes a `sent` SMS `undelivered` with Twilio's error", async () => {
    const messageSid = sid();
    const d = await makeDelivery(db, "sms", "sent", { providerMessageId: messageSid });
    const res = await twilioPost(statusPath(d.id), smsStatus(messageSid, "undelivered", { ErrorCode: "30003", ErrorMessage: "Unreachable destination handset" }));
    expect(res.statusCode).toBe(204);
    const row = await deliveryRow(db, d.id);
    expect(row).toMatchObject({ state: "undelivered", providerStatus: "undelivered", providerOutcome: "undelivered" });
    expect(row.reason).toContain("30003: Unreachable destination handset");
  });

  it("takes call status callbacks (CallSid, CallStatus)", async () => {
    const answered = await makeDelivery(db, "voice", "unknown");
    const callSid = sid("CA");
    const call = (s: string, status: string) => ({ AccountSid: "AC00000000000000000000000000000000", CallSid: s, CallStatus: status, Direction: "outbound-api" });
    expect((await twilioPost(statusPath(answered.id), call(callSid, "completed"))).statusCode).toBe(204);
    expect(await deliveryRow(db, answered.id)).toMatchObject({ state: "sent", providerMessageId: callSid, providerStatus: "completed" });

    const unanswered = await makeDelivery(db, "voice", "sent", { providerMessageId: sid("CA") });
    expect((await twilioPost(statusPath(unanswered.id), call(unanswered.providerMessageId!, "no-answer"))).statusCode).toBe(204);
    expect(await deliveryRow(db, unanswered.id)).toMatchObject({ state: "undelivered", providerStatus: "no-answer" });
  });

  it("finds the delivery by its message id when the callback URL has no deliveryId", async () => {
    const messageSid = sid();
    const d = await makeDelivery(db, "sms", "sent", { providerMessageId: messageSid });
    expect((await twilioPost("/webhooks/twilio/status", smsStatus(messageSid, "delivered"))).statusCode).toBe(204);
    expect(await deliveryRow(db, d.id)).toMatchObject({ providerStatus: "delivered" });
  });

  it("answers 400 naming the field for a signed callback without a sid, a status, or a numeric deliveryId", async () => {
    const d = await makeDelivery(db, "sms", "sent", { providerMessageId: sid() });
    const before = await snapshot(db);
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      [statusPath(d.id), { MessageStatus: "delivered" }, /MessageSid/],
      [statusPath(d.id), { MessageSid: sid() }, /MessageStatus/],
      [statusPath(d.id), { CallSid: sid("CA") }, /CallStatus/],
      [statusPath("abc"), smsStatus(sid(), "sent"), /deliveryId.*"abc"/],
      [statusPath("12.5"), smsStatus(sid(), "sent"), /deliveryId/],
      [statusPath("99999999999"), smsStatus(sid(), "sent"), /deliveryId/],
      [`${statusPath(d.id)}&deliveryId=${d.id}`, smsStatus(sid(), "sent"), /deliveryId is given more than once/],
      [statusPath(d.id), smsStatus("SM'; DROP TABLE deliveries; --", "sent"), /not a Twilio sid/],
    ];
    for (const [path, params, error] of cases) {
      const res = await twilioPost(path, params);
      expect({ path, status: res.statusCode, error: res.json().error }).toEqual({ path, status: 400, error: expect.stringMatching(error) });
    }
    expect(await snapshot(db)).toBe(before);
  });

  it("verifies against WEBHOOK_PUBLIC_URL with a path prefix added by a proxy", async () => {
    const prefixed = buildWebhooks({ db, logger: createLogger("api-test", "silent"), twilio: { authToken: AUTH_TOKEN, publicUrl: "https://edge.example.com/nudge" } });
    const prefixedClient = await listen(prefixed);
    try {
      const messageSid = sid();
      const d = await makeDelivery(db, "sms", "sent", { providerMessageId: messageSid });
      const params = smsStatus(messageSid, "delivered");
      const res = await prefixedClient.request({
        method: "POST",
        url: statusPath(d.id),
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "x-twilio-signature": twilioSignature(AUTH_TOKEN, `https://edge.example.com/nudge${statusPath(d.id)}`, params),
        },
        payload: new URLSearchParams(params).toString(),
      });
      expect(res.statusCode).toBe(204);
    } finally {
      prefixedClient.close();
      await prefixed.close();
    }
  });
});

describe("Twilio inbound SMS", () => {
  const inbound = (from: string, body: string) =>
    twilioPost("/webhooks/twilio/inbound", {
      AccountSid: "AC00000000000000000000000000000000",
      MessageSid: sid(),
      From: from,
      To: "+15005550006",
      Body: body,
      NumMedia: "0",
    });

  it("suppresses SMS and calls for each opt-out keyword, in any case and padded, and lifts it for each opt-in", async () => {
    const optOuts = ["STOP", "stopall", " Unsubscribe ", "cancel\n", "End", "\tQUIT  "];
    const optIns = ["START", "yes", " Unstop "];
    let n = 0;
    for (const word of optOuts) {
      const from = `+1555018${String((n += 1)).padStart(4, "0")}`;
      const res = await inbound(from, word);
      expect(res.statusCode).toBe(200);
      expect(res.headers["content-type"]).toMatch(/^text\/xml/);
      expect(res.body).toBe("<Response/>");
      expect(await suppressionsFor(db, from)).toEqual([
        { channel: "sms", reason: `replied ${word.trim().toUpperCase()}`, source: "twilio-inbound" },
        { channel: "voice", reason: `replied ${word.trim().toUpperCase()}`, source: "twilio-inbound" },
      ]);
      // A second STOP keeps the first opt-out as it was.
      expect((await inbound(from, "stop")).statusCode).toBe(200);
      expect(await suppressionsFor(db, from)).toHaveLength(2);
    }
    for (const word of optIns) {
      const from = `+1555018${String((n += 1)).padStart(4, "0")}`;
      await inbound(from, "STOP");
      expect(await suppressionsFor(db, from)).toHaveLength(2);
      const res = await inbound(from, word);
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe("<Response/>");
      expect(await suppressionsFor(db, from)).toEqual([]);
    }
  });

  it("answers HELP with the help text, and anything else with an empty response, writing nothing", async () => {
    const from = "+15550187777";
    const before = await snapshot(db);
    for (const word of ["HELP", " info "]) {
      const res = await inbound(from, word);
      expect(res.statusCode).toBe(200);
      expect(res.headers["content-type"]).toMatch(/^text\/xml/);
      expect(res.body).toBe(`<Response><Message>${HELP_TEXT.replace("&", "&amp;")}</Message></Response>`);
    }
    for (const text of ["Yes I'll be there", "stop please", "", "STOP STOP"]) {
      const res = await inbound(from, text);
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe("<Response/>");
    }
    expect(await snapshot(db)).toBe(before);
  });

  it("refuses an unsigned or forged STOP with 403 and suppresses nothing", async () => {
    const from = "+15550186666";
    const params = { MessageSid: sid(), From: from, To: "+15005550006", Body: "STOP" };
    expect((await twilioPost("/webhooks/twilio/inbound", params, "none")).statusCode).toBe(403);
    expect((await twilioPost("/webhooks/twilio/inbound", params, { params: { ...params, From: "+15550186665" } })).statusCode).toBe(403);
    expect(await suppressionsFor(db, from)).toEqual([]);
  });

  it("answers 400 for a signed inbound message without From", async () => {
    const res = await twilioPost("/webhooks/twilio/inbound", { MessageSid: sid(), Body: "STOP" });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: "From is missing" });
  });
});
