import http from "node:http";
import { startSimulator, type Simulator } from "../src";
import { WebhookReceiver, until } from "./webhook-receiver";

const ACCOUNT = "AC" + "0".repeat(32);
const TOKEN = "sim-test-token";

function post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function sendSms(sim: Simulator, statusCallback: string): Promise<string> {
  const res = await post(`${sim.url}/2010-04-01/Accounts/${ACCOUNT}/Messages.json`, new URLSearchParams({ To: "+15551230001", From: "+15550000000", Body: "hi", StatusCallback: statusCallback }).toString(), {
    Authorization: "Basic " + Buffer.from(`${ACCOUNT}:${TOKEN}`).toString("base64"),
    "Content-Type": "application/x-www-form-urlencoded",
  });
  return JSON.parse(res.body).sid as string;
}

function sendMail(sim: Simulator): Promise<{ status: number }> {
  return post(`${sim.url}/v3/mail/send`, JSON.stringify({
    personalizations: [{ to: [{ email: "ann@example.com" }], custom_args: { deliveryId: "9" } }],
    from: { email: "clinic@example.com" },
    subject: "Reminder",
    content: [{ type: "text/plain", value: "See you" }],
  }), { Authorization: "Bearer SG.test", "Content-Type": "application/json" });
}

const control = (sim: Simulator, method: string, path: string, body?: unknown) =>
  fetch(`${sim.url}/__sim/${path}`, { method, ...(body !== undefined && { body: JSON.stringify(body) }) });

describe("webhook chaos", () => {
  let receiver: WebhookReceiver;
  let sim: Simulator;

  beforeEach(async () => {
    receiver = await WebhookReceiver.start();
    sim = await startSimulator({ twilioAuthToken: TOKEN, callbackDelayMs: 20, sendgridEventWebhookUrl: receiver.url("/sendgrid") });
  });
  afterEach(async () => {
    await sim.close();
    await receiver.close();
  });

  test("duplicateRate 1 posts every status callback and every event twice, identical, and counts them", async () => {
    expect(sim.setCallbackChaos({ duplicateRate: 1 })).toEqual({ duplicateRate: 1, reorderRate: 0 });
    await sendSms(sim, receiver.url("/twilio"));
    await sendMail(sim);
    const twilio = await receiver.waitFor(4, "/twilio");
    const sendGrid = await receiver.waitFor(4, "/sendgrid");
    for (const posts of [twilio, sendGrid]) {
      const bodies = posts.map((p) => p.body);
      expect(new Set(bodies).size).toBe(2);
      for (const body of bodies) expect(bodies.filter((b) => b === body)).toHaveLength(2);
    }
    expect(twilio.map((p) => p.params.MessageStatus).sort()).toEqual(["delivered", "delivered", "sent", "sent"]);
    await until("all eight answered", () => (receiver.received.length === 8 ? true : undefined));
    expect(sim.callbackStats()).toEqual({ posted: 8, duplicated: 4, reordered: 0, failed: 0 });
  });

  test("reorderRate 1 delivers a resource's webhooks last first, while its status still changes in the true order", async () => {
    await control(sim, "PUT", "callback-chaos", { reorderRate: 1 });
    const sid = await sendSms(sim, receiver.url("/twilio"));
    await sendMail(sim);
    const twilio = await receiver.waitFor(2, "/twilio");
    expect(twilio.map((p) => p.params.MessageStatus)).toEqual(["delivered", "sent"]);
    const events = (await receiver.waitFor(2, "/sendgrid")).map((p) => JSON.parse(p.body)[0] as { event: string; timestamp: number });
    expect(events.map((e) => e.event)).toEqual(["delivered", "processed"]);
    // Each event is stamped with when it happened, not when it was posted.
    expect(events[1]!.timestamp).toBeLessThanOrEqual(events[0]!.timestamp);
    const fetched = await fetch(`${sim.url}/2010-04-01/Accounts/${ACCOUNT}/Messages/${sid}.json`, {
      headers: { Authorization: "Basic " + Buffer.from(`${ACCOUNT}:${TOKEN}`).toString("base64") },
    });
    expect(((await fetched.json()) as { status: string }).status).toBe("delivered");
    expect(await (await control(sim, "GET", "callback-stats")).json()).toMatchObject({ reordered: 2, duplicated: 0 });
  });

  test("a post the receiver refuses counts as failed; reset clears the chaos and the counters", async () => {
    receiver.answerWith(() => ({ status: 500 }));
    sim.setCallbackChaos({ duplicateRate: 1, reorderRate: 1 });
    await sendSms(sim, receiver.url("/twilio"));
    await receiver.waitFor(4, "/twilio");
    expect(await until("four failures", () => (sim.callbackStats().failed === 4 ? sim.callbackStats() : undefined))).toEqual({ posted: 4, duplicated: 2, reordered: 1, failed: 4 });

    sim.reset();
    expect(sim.callbackStats()).toEqual({ posted: 0, duplicated: 0, reordered: 0, failed: 0 });
    receiver.answerWith(() => ({ status: 204 }));
    await sendSms(sim, receiver.url("/after"));
    expect((await receiver.waitFor(2, "/after")).map((p) => p.params.MessageStatus)).toEqual(["sent", "delivered"]);
  });

  test("rates are checked: outside 0..1 or an unknown field is refused, over HTTP with 400", async () => {
    expect(() => sim.setCallbackChaos({ duplicateRate: 1.5 })).toThrow(/duplicateRate must be a probability from 0 to 1/);
    const typo = await control(sim, "PUT", "callback-chaos", { duplicate_rate: 0.5 });
    expect(typo.status).toBe(400);
    expect(((await typo.json()) as { error: string }).error).toMatch(/duplicateRate and reorderRate only, not duplicate_rate/);
    expect((await control(sim, "PUT", "callback-chaos", { reorderRate: -0.1 })).status).toBe(400);
  });
});
