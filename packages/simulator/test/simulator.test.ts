import http from "node:http";
import { SIMULATOR_HUBSPOT_TOKEN, startSimulator, type Simulator } from "../src";

const ACCOUNT = "AC" + "0".repeat(32);
const TOKEN = "sim-test-token";
const basic = "Basic " + Buffer.from(`${ACCOUNT}:${TOKEN}`).toString("base64");

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A plain node:http call with a fresh connection each time (no pooling to blur refused / reset behaviour). */
function call(sim: Simulator, method: string, path: string, options: { body?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${sim.url}${path}`, { method, agent: false, headers: options.headers, timeout: options.timeoutMs ?? 2000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("client timeout"), { code: "CLIENT_TIMEOUT" })));
    req.on("error", reject);
    req.end(options.body);
  });
}

const form = (params: Record<string, string>) => ({
  body: new URLSearchParams(params).toString(),
  headers: { Authorization: basic, "Content-Type": "application/x-www-form-urlencoded" },
});
const json = (value: unknown, token = "Bearer test") => ({
  body: JSON.stringify(value),
  headers: { Authorization: token, "Content-Type": "application/json" },
});
const sendSms = (sim: Simulator, to: string, body = "hello", extra: Record<string, string> = {}) =>
  call(sim, "POST", `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`, form({ To: to, From: "+15550000000", Body: body, ...extra }));

describe("provider simulator", () => {
  let sim: Simulator;

  beforeEach(async () => {
    sim = await startSimulator({ twilioAuthToken: TOKEN, callbackDelayMs: 10 });
  });
  afterEach(async () => {
    await sim.close();
  });

  test("Twilio message: 201 with a message resource, recorded once with the deliveryId of its StatusCallback", async () => {
    const res = await sendSms(sim, "+15551230001", "see you at 9", { StatusCallback: "http://127.0.0.1:9/cb?deliveryId=42" });
    expect(res.status).toBe(201);
    expect(res.headers["content-type"]).toMatch(/application\/json/);
    const message = JSON.parse(res.body);
    expect(message).toMatchObject({ account_sid: ACCOUNT, status: "queued", to: "+15551230001", body: "see you at 9" });
    expect(message.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(message.date_created).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
    expect(sim.records()).toEqual([
      expect.objectContaining({ seq: 1, provider: "twilio-sms", id: message.sid, to: "+15551230001", body: "see you at 9", deliveryId: "42" }),
    ]);
  });

  test("Twilio rejects bad credentials (20003), a non-E.164 To (21211) and an unsubscribed number (21610), recording nothing", async () => {
    const wrongAuth = await call(sim, "POST", `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`, {
      ...form({ To: "+15551230001", From: "+15550000000", Body: "x" }),
      headers: { Authorization: "Basic " + Buffer.from(`${ACCOUNT}:nope`).toString("base64") },
    });
    expect(wrongAuth.status).toBe(401);
    expect(JSON.parse(wrongAuth.body).code).toBe(20003);

    const invalid = await sendSms(sim, "555-1234");
    expect(invalid.status).toBe(400);
    expect(JSON.parse(invalid.body)).toMatchObject({ code: 21211, status: 400 });

    sim.unsubscribe("+15551230002");
    const unsubscribed = await sendSms(sim, "+15551230002");
    expect(JSON.parse(unsubscribed.body)).toEqual({
      code: 21610,
      message: "Attempt to send to unsubscribed recipient",
      more_info: "https://www.twilio.com/docs/errors/21610",
      status: 400,
    });
    expect(sim.records()).toHaveLength(0);
  });

  test("Twilio lists filter by To and DateSent> inside Twilio's page envelope", async () => {
    await sendSms(sim, "+15551230001", "one");
    await sendSms(sim, "+15551230002", "other");
    await sendSms(sim, "+15551230001", "two");
    const today = new Date().toISOString().slice(0, 10);
    const res = await call(sim, "GET", `/2010-04-01/Accounts/${ACCOUNT}/Messages.json?To=%2B15551230001&DateSent%3E=${today}&PageSize=1`, {
      headers: { Authorization: basic },
    });
    const page = JSON.parse(res.body);
    expect(page).toMatchObject({ page: 0, page_size: 1, previous_page_uri: null });
    expect(page.messages.map((m: { body: string }) => m.body)).toEqual(["two"]);
    expect(page.next_page_uri).toContain("Page=1");
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const none = await call(sim, "GET", `/2010-04-01/Accounts/${ACCOUNT}/Messages.json?DateSent%3E=${tomorrow}`, { headers: { Authorization: basic } });
    expect(JSON.parse(none.body)).toMatchObject({ messages: [], next_page_uri: null });
  });

  test("Twilio call: 201 with a CA sid, recorded as twilio-voice", async () => {
    const res = await call(sim, "POST", `/2010-04-01/Accounts/${ACCOUNT}/Calls.json`, form({ To: "+15551230001", From: "+15550000000", Twiml: "<Response><Say>hi</Say></Response>" }));
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body).sid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(sim.records({ provider: "twilio-voice" })).toHaveLength(1);
  });

  test("SendGrid: 202, empty body, X-Message-Id; custom_args.deliveryId recorded; a malformed mail gets SendGrid's error list", async () => {
    const res = await call(sim, "POST", "/v3/mail/send", json({
      personalizations: [{ to: [{ email: "ann@example.com" }] }],
      from: { email: "clinic@example.com" },
      subject: "Reminder",
      content: [{ type: "text/plain", value: "See you" }],
      custom_args: { deliveryId: "7" },
    }));
    expect(res.status).toBe(202);
    expect(res.body).toBe("");
    expect(res.headers["x-message-id"]).toEqual(expect.any(String));
    expect(sim.records()).toEqual([
      expect.objectContaining({ provider: "sendgrid", id: res.headers["x-message-id"], to: "ann@example.com", subject: "Reminder", body: "See you", deliveryId: "7" }),
    ]);

    const bad = await call(sim, "POST", "/v3/mail/send", json({ personalizations: [{ to: [{ email: "ann@example.com" }] }], subject: "x", content: [{ type: "text/plain", value: "y" }] }));
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).errors[0]).toEqual({ message: expect.any(String), field: "from", help: expect.any(String) });
  });

  test("HubSpot: PATCH merges properties into a contact that exists, GET reads them, an unknown one is 404; every answer is application/json", async () => {
    const token = `Bearer ${SIMULATOR_HUBSPOT_TOKEN}`;
    sim.configureHubSpot({ rejectUnknownProperties: false });
    sim.seedCrmContact({ email: "ann@example.com" }, "501");
    const first = await call(sim, "PATCH", "/crm/v3/objects/contacts/501", json({ properties: { reminder_status: "sent", step: "1" } }, token));
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({ id: "501", archived: false, properties: { reminder_status: "sent" } });
    await call(sim, "PATCH", "/crm/v3/objects/contacts/501", json({ properties: { step: "2" } }, token));
    expect(sim.crmContact("501")?.properties).toMatchObject({ reminder_status: "sent", step: "2" });
    const read = await call(sim, "GET", "/crm/v3/objects/contacts/501", { headers: { Authorization: token } });
    expect(JSON.parse(read.body).properties.step).toBe("2");

    const missing = await call(sim, "PATCH", "/crm/v3/objects/contacts/502", json({ properties: { a: "b" } }, token));
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ status: "error", category: "OBJECT_NOT_FOUND" });
    const unauthorized = await call(sim, "GET", "/crm/v3/objects/contacts/501");
    expect(unauthorized.status).toBe(401);
    for (const res of [first, read, missing, unauthorized]) expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(sim.records({ provider: "hubspot" }).map((r) => r.properties)).toEqual([{ reminder_status: "sent", step: "1" }, { step: "2" }]);
  });

  test("faults over HTTP are consumed in order by matching providers: 500 and 429 record nothing, then requests pass", async () => {
    const injected = await call(sim, "POST", "/__sim/faults", json([
      { kind: "500", provider: "sendgrid" },
      { kind: "429", provider: "twilio-sms", times: 2, retryAfterSeconds: 3 },
    ]));
    expect(injected.status).toBe(201);
    const first = await sendSms(sim, "+15551230001");
    expect(first.status).toBe(429);
    expect(first.headers["retry-after"]).toBe("3");
    expect(JSON.parse(first.body).code).toBe(20429);
    expect((await sendSms(sim, "+15551230001")).status).toBe(429);
    expect((await sendSms(sim, "+15551230001")).status).toBe(201);
    const mail = await call(sim, "POST", "/v3/mail/send", json({}));
    expect(mail.status).toBe(500);
    expect(JSON.parse(mail.body).errors).toHaveLength(1);
    expect(sim.records()).toHaveLength(1);

    const badFault = await call(sim, "POST", "/__sim/faults", json({ kind: "explode" }));
    expect(badFault.status).toBe(400);
    expect(JSON.parse(badFault.body).error).toMatch(/fault.kind must be one of/);
  });

  test("a fault's status picks the 5xx of 500 and accept-then-500; accept-then-500 records (HubSpot: applies the write); bad statuses are refused", async () => {
    sim.injectFault([{ kind: "500", provider: "twilio-sms", status: 504 }, { kind: "accept-then-500", provider: "hubspot" }]);
    const refused = await sendSms(sim, "+15551230001");
    expect(refused.status).toBe(504);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 20500, message: "Gateway Timeout" });
    expect(sim.records()).toHaveLength(0);

    sim.configureHubSpot({ rejectUnknownProperties: false });
    sim.seedCrmContact({ email: "ann@example.com" }, "601");
    const token = `Bearer ${SIMULATOR_HUBSPOT_TOKEN}`;
    const written = await call(sim, "PATCH", "/crm/v3/objects/contacts/601", json({ properties: { step: "3" } }, token));
    expect(written.status).toBe(500);
    expect(JSON.parse(written.body)).toMatchObject({ status: "error", category: "INTERNAL_ERROR" });
    expect(sim.crmContact("601")?.properties.step).toBe("3");

    for (const [fault, message] of [
      [{ kind: "accept-then-500", status: 501 }, /fault.status must be one of 500, 502, 503, 504/],
      [{ kind: "429", status: 503 }, /fault.status applies only to the kinds 500, accept-then-500/],
    ] as const) {
      const res = await call(sim, "POST", "/__sim/faults", json(fault));
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).error).toMatch(message);
    }
  });

  test("reset destroys the socket and records nothing; accept-then-reset records, then destroys", async () => {
    sim.injectFault([{ kind: "reset" }, { kind: "accept-then-reset" }]);
    await expect(sendSms(sim, "+15551230001", "a")).rejects.toMatchObject({ code: "ECONNRESET" });
    expect(sim.records()).toHaveLength(0);
    await expect(sendSms(sim, "+15551230001", "b")).rejects.toMatchObject({ code: "ECONNRESET" });
    expect(sim.records().map((r) => r.body)).toEqual(["b"]);
  });

  test("hang records the message and never answers; close() still returns promptly", async () => {
    sim.injectFault({ kind: "hang", provider: "twilio-sms" });
    const pending = sendSms(sim, "+15551230001", "hung");
    pending.catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    expect(sim.records().map((r) => r.body)).toEqual(["hung"]);
    const started = Date.now();
    await sim.close();
    expect(Date.now() - started).toBeLessThan(500);
    await expect(pending).rejects.toMatchObject({ code: "ECONNRESET" });
  });

  test("refuseConnections: ECONNREFUSED for a while, then the same port answers again", async () => {
    const port = sim.port;
    await sim.refuseConnections(200);
    await expect(sendSms(sim, "+15551230001")).rejects.toMatchObject({ code: "ECONNREFUSED" });
    await new Promise((r) => setTimeout(r, 300));
    expect(sim.port).toBe(port);
    expect((await sendSms(sim, "+15551230001")).status).toBe(201);
  });

  test("latency delays every answer and can be changed at runtime", async () => {
    sim.setLatency(150);
    let started = Date.now();
    await sendSms(sim, "+15551230001");
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await call(sim, "PUT", "/__sim/latency", json({ ms: 0 }));
    started = Date.now();
    await sendSms(sim, "+15551230001");
    expect(Date.now() - started).toBeLessThan(100);
  });

  test("records over HTTP: filter, clear", async () => {
    await sendSms(sim, "+15551230001", "a", { StatusCallback: "http://127.0.0.1:9/cb?deliveryId=1" });
    await sendSms(sim, "+15551230002", "b");
    const all = JSON.parse((await call(sim, "GET", "/__sim/records")).body).records;
    expect(all).toHaveLength(2);
    const one = JSON.parse((await call(sim, "GET", "/__sim/records?deliveryId=1")).body).records;
    expect(one).toEqual([expect.objectContaining({ to: "+15551230001", provider: "twilio-sms" })]);
    expect((await call(sim, "DELETE", "/__sim/records")).status).toBe(204);
    expect(sim.records()).toHaveLength(0);
  });

  test("a status callback that cannot be delivered is swallowed", async () => {
    const logged: unknown[] = [];
    await sim.close();
    sim = await startSimulator({ twilioAuthToken: TOKEN, callbackDelayMs: 5, log: (e) => logged.push(e) });
    await sendSms(sim, "+15551230001", "x", { StatusCallback: "http://127.0.0.1:1/nowhere?deliveryId=3" });
    await new Promise((r) => setTimeout(r, 100));
    expect(logged).toContainEqual(expect.objectContaining({ msg: "status callback failed" }));
    expect((await sendSms(sim, "+15551230001")).status).toBe(201);
  });
});
