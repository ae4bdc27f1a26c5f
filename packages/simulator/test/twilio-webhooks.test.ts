import http from "node:http";
import twilio from "twilio";
import { SIMULATOR_TWILIO_ACCOUNT_SID, simulatorProviderEnv, startSimulator, type Simulator } from "../src";
import { WebhookReceiver, type Received } from "./webhook-receiver";

// The account the apps are given, which incoming messages arrive for.
const ACCOUNT = SIMULATOR_TWILIO_ACCOUNT_SID;
const TOKEN = "sim-test-token";
const basic = "Basic " + Buffer.from(`${ACCOUNT}:${TOKEN}`).toString("base64");

function twilioCall(sim: Simulator, method: string, path: string, params?: Record<string, string> | URLSearchParams): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${sim.url}/2010-04-01/Accounts/${ACCOUNT}/${path}`, {
      method,
      agent: false,
      headers: { Authorization: basic, "Content-Type": "application/x-www-form-urlencoded" },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on("error", reject);
    req.end(params === undefined ? undefined : new URLSearchParams(params).toString());
  });
}

const sendSms = (sim: Simulator, to: string, extra: Record<string, string> = {}) =>
  twilioCall(sim, "POST", "Messages.json", { To: to, From: "+15550000000", Body: "see you at 9", ...extra });
const placeCall = (sim: Simulator, to: string, extra: Record<string, string> | URLSearchParams = {}) => {
  const params = new URLSearchParams(extra);
  for (const [key, value] of Object.entries({ To: to, From: "+15550000000", Twiml: "<Response><Say>hi</Say></Response>" })) params.set(key, value);
  return twilioCall(sim, "POST", "Calls.json", params);
};

/** Checked as any Twilio webhook receiver checks it: the SDK's own validator, over the full URL it was posted to. */
function signedByTwilio(post: Received, authToken = TOKEN): boolean {
  return twilio.validateRequest(authToken, post.headers["x-twilio-signature"] as string, post.url, post.params);
}

describe("Twilio webhooks", () => {
  let receiver: WebhookReceiver;
  let sim: Simulator;

  beforeEach(async () => {
    receiver = await WebhookReceiver.start();
    sim = await startSimulator({ twilioAuthToken: TOKEN, callbackDelayMs: 10 });
  });
  afterEach(async () => {
    await sim.close();
    await receiver.close();
  });

  test("an SMS goes queued -> sent -> delivered; each callback carries Twilio's fields and a signature the SDK accepts", async () => {
    const created = await sendSms(sim, "+15551230001", { StatusCallback: receiver.url("/twilio/status?deliveryId=42") });
    expect(created.body.status).toBe("queued");
    const posts = await receiver.waitFor(2, "/twilio/status");
    expect(posts.map((p) => p.params.MessageStatus)).toEqual(["sent", "delivered"]);
    for (const post of posts) {
      expect(signedByTwilio(post)).toBe(true);
      expect(post.url).toContain("deliveryId=42");
      expect(post.params).toEqual({
        AccountSid: ACCOUNT,
        ApiVersion: "2010-04-01",
        From: "+15550000000",
        MessageSid: created.body.sid,
        MessageStatus: post.params.MessageStatus,
        SmsSid: created.body.sid,
        SmsStatus: post.params.MessageStatus,
        To: "+15551230001",
      });
    }
    expect(signedByTwilio(posts[0]!, "another-token")).toBe(false);
    expect((await twilioCall(sim, "GET", `Messages/${created.body.sid}.json`)).body.status).toBe("delivered");
  });

  test("a call walks queued -> initiated -> ringing -> in-progress -> completed; callbacks for the events asked for, the end always", async () => {
    const events = new URLSearchParams([["StatusCallback", receiver.url("/twilio/call")], ["StatusCallbackEvent", "initiated ringing"], ["StatusCallbackEvent", "answered"], ["StatusCallbackEvent", "completed"]]);
    const all = await placeCall(sim, "+15551230001", events);
    const posts = await receiver.waitFor(4, "/twilio/call");
    expect(posts.map((p) => [p.params.CallStatus, p.params.SequenceNumber])).toEqual([["initiated", "0"], ["ringing", "1"], ["in-progress", "2"], ["completed", "3"]]);
    for (const post of posts) {
      expect(signedByTwilio(post)).toBe(true);
      expect(post.params).toMatchObject({ AccountSid: ACCOUNT, CallSid: all.body.sid, To: "+15551230001", From: "+15550000000", Direction: "outbound-api", ApiVersion: "2010-04-01" });
      expect(Date.parse(post.params.Timestamp!)).toBeGreaterThan(Date.now() - 60_000);
    }
    expect(posts.map((p) => p.params.CallDuration)).toEqual([undefined, undefined, undefined, "7"]);
    expect((await twilioCall(sim, "GET", `Calls/${all.body.sid}.json`)).body).toMatchObject({ status: "completed", duration: "7" });

    // Twilio's default StatusCallbackEvent is the end alone.
    await placeCall(sim, "+15551230002", { StatusCallback: receiver.url("/twilio/default") });
    const [only] = await receiver.waitFor(1, "/twilio/default");
    expect(only!.params).toMatchObject({ CallStatus: "completed", SequenceNumber: "0", CallDuration: "7" });
  });

  test("failDelivery: the SMS is accepted then undelivered (30003), the call ends no-answer", async () => {
    sim.failDelivery("+15551230009");
    const sms = await sendSms(sim, "+15551230009", { StatusCallback: receiver.url("/sms") });
    expect(sms.status).toBe(201);
    const smsPosts = await receiver.waitFor(2, "/sms");
    expect(smsPosts.map((p) => [p.params.MessageStatus, p.params.ErrorCode])).toEqual([["sent", undefined], ["undelivered", "30003"]]);
    expect((await twilioCall(sim, "GET", `Messages/${sms.body.sid}.json`)).body).toMatchObject({ status: "undelivered", error_code: 30003 });

    const call = await placeCall(sim, "+15551230009", { StatusCallback: receiver.url("/call"), StatusCallbackEvent: "initiated ringing answered completed" });
    const callPosts = await receiver.waitFor(3, "/call");
    expect(callPosts.map((p) => p.params.CallStatus)).toEqual(["initiated", "ringing", "no-answer"]);
    expect(callPosts[2]!.params.CallDuration).toBe("0");
    expect((await twilioCall(sim, "GET", `Calls/${call.body.sid}.json`)).body.status).toBe("no-answer");

    const marked = await fetch(`${sim.url}/__sim/undeliverable`, { method: "POST", body: JSON.stringify({ phone: "+15551230008" }) });
    expect(marked.status).toBe(201);
    sim.reset();
    await sendSms(sim, "+15551230009", { StatusCallback: receiver.url("/after-reset") });
    expect((await receiver.waitFor(2, "/after-reset")).map((p) => p.params.MessageStatus)).toEqual(["sent", "delivered"]);
  });

  test("accept-then-500 answers Twilio's 5xx after the message was created: it is recorded and its callbacks still come", async () => {
    sim.injectFault({ kind: "accept-then-500", provider: "twilio-sms", status: 502 });
    const answered = await sendSms(sim, "+15551230001", { StatusCallback: receiver.url("/twilio/status?deliveryId=5") });
    expect(answered).toEqual({ status: 502, body: { code: 20500, message: "Bad Gateway", more_info: "https://www.twilio.com/docs/errors/20500", status: 502 } });
    const [record] = sim.records({ provider: "twilio-sms" });
    expect(record).toMatchObject({ to: "+15551230001", deliveryId: "5" });
    const posts = await receiver.waitFor(2, "/twilio/status");
    expect(posts.map((p) => [p.params.MessageSid, p.params.MessageStatus])).toEqual([[record!.id, "sent"], [record!.id, "delivered"]]);

    sim.injectFault({ kind: "accept-then-500", provider: "twilio-voice" });
    expect((await placeCall(sim, "+15551230001")).status).toBe(500);
    expect(sim.records({ provider: "twilio-voice" })).toHaveLength(1);
  });

  test("list lag: a new message or call is missing from the list but fetched by sid; setListLag and PUT /__sim/list-lag change it; reset restores the option", async () => {
    await sim.close();
    sim = await startSimulator({ twilioAuthToken: TOKEN, listLagMs: 60_000 });
    const sms = await sendSms(sim, "+15551230001");
    const call = await placeCall(sim, "+15551230001");
    expect((await twilioCall(sim, "GET", "Messages.json?To=%2B15551230001")).body.messages).toEqual([]);
    expect((await twilioCall(sim, "GET", "Calls.json")).body.calls).toEqual([]);
    expect((await twilioCall(sim, "GET", `Messages/${sms.body.sid}.json`)).status).toBe(200);
    expect((await twilioCall(sim, "GET", `Calls/${call.body.sid}.json`)).status).toBe(200);

    const put = await fetch(`${sim.url}/__sim/list-lag`, { method: "PUT", body: JSON.stringify({ ms: 0 }) });
    expect(await put.json()).toEqual({ listLagMs: 0 });
    expect((await twilioCall(sim, "GET", "Messages.json")).body.messages.map((m: { sid: string }) => m.sid)).toEqual([sms.body.sid]);
    expect((await twilioCall(sim, "GET", "Calls.json")).body.calls.map((c: { sid: string }) => c.sid)).toEqual([call.body.sid]);

    sim.reset();
    await sendSms(sim, "+15551230001");
    expect((await twilioCall(sim, "GET", "Messages.json")).body.messages).toEqual([]);
    expect(() => sim.setListLag(-1)).toThrow(/>= 0/);
  });

  test("receiveSms posts Twilio's signed inbound webhook and resolves with the receiver's answer; STOP and START change the subscription", async () => {
    await expect(sim.receiveSms({ from: "+15551230001", body: "hi" })).rejects.toThrow(/no inbound URL/);
    expect(sim.configureTwilioInbound({ url: receiver.url("/twilio/inbound") })).toEqual({ url: receiver.url("/twilio/inbound") });
    receiver.answerWith(() => ({ status: 200, contentType: "text/xml", body: "<Response/>" }));

    const answer = await sim.receiveSms({ from: "+15551230001", body: "  stop " });
    expect(answer).toEqual({ status: 200, body: "<Response/>" });
    const [post] = await receiver.waitFor(1, "/twilio/inbound");
    expect(signedByTwilio(post!)).toBe(true);
    expect(post!.params).toEqual({
      AccountSid: SIMULATOR_TWILIO_ACCOUNT_SID,
      ApiVersion: "2010-04-01",
      Body: "  stop ",
      From: "+15551230001",
      MessageSid: expect.stringMatching(/^SM[0-9a-f]{32}$/),
      NumMedia: "0",
      NumSegments: "1",
      OptOutType: "STOP",
      SmsMessageSid: post!.params.MessageSid,
      SmsSid: post!.params.MessageSid,
      SmsStatus: "received",
      To: simulatorProviderEnv(sim.url).TWILIO_FROM_NUMBER,
    });
    expect((await sendSms(sim, "+15551230001")).body.code).toBe(21610);

    // Over HTTP, to another of the account's numbers; an opt-in keyword resubscribes.
    const viaControl = await fetch(`${sim.url}/__sim/inbound-sms`, { method: "POST", body: JSON.stringify({ from: "+15551230001", body: "Start", to: "+15005550007" }) });
    expect(await viaControl.json()).toEqual({ status: 200, body: "<Response/>" });
    const posts = await receiver.waitFor(2, "/twilio/inbound");
    expect(posts[1]!.params).toMatchObject({ To: "+15005550007", OptOutType: "START" });
    expect((await sendSms(sim, "+15551230001")).status).toBe(201);

    // A plain reply changes nothing, and the receiver's own answer comes back whatever it is.
    receiver.answerWith(() => ({ status: 500, body: "oops" }));
    expect(await sim.receiveSms({ from: "+15551230001", body: "STOP me later" })).toEqual({ status: 500, body: "oops" });
    expect((await sendSms(sim, "+15551230001")).status).toBe(201);
    const listed = (await twilioCall(sim, "GET", "Messages.json?From=%2B15551230001")).body.messages;
    expect(listed.map((m: { direction: string; status: string; body: string }) => [m.direction, m.status, m.body])).toEqual([
      ["inbound", "received", "STOP me later"],
      ["inbound", "received", "Start"],
      ["inbound", "received", "  stop "],
    ]);

    await expect(sim.receiveSms({ from: "5551230001", body: "hi" })).rejects.toThrow(/E\.164/);
    sim.configureTwilioInbound({ url: "http://127.0.0.1:1/nobody" });
    const unreachable = await fetch(`${sim.url}/__sim/inbound-sms`, { method: "POST", body: JSON.stringify({ from: "+15551230001", body: "hi" }) });
    expect(unreachable.status).toBe(502);
  });
});
