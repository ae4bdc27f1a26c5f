import { generateKeyPairSync } from "node:crypto";
import http from "node:http";
import { EventWebhook, EventWebhookHeader } from "@sendgrid/eventwebhook";
import { startSimulator, type Simulator } from "../src";
import { WebhookReceiver, type Received } from "./webhook-receiver";

interface SendGridEvent {
  event: string;
  email: string;
  timestamp: number;
  sg_event_id: string;
  sg_message_id: string;
  "smtp-id": string;
  [field: string]: unknown;
}

/** POST /v3/mail/send over plain HTTP; resolves with the status and X-Message-Id. */
function sendMail(sim: Simulator, mail: Record<string, unknown>): Promise<{ status: number; messageId: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${sim.url}/v3/mail/send`, {
      method: "POST",
      agent: false,
      headers: { Authorization: "Bearer SG.test", "Content-Type": "application/json" },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, messageId: res.headers["x-message-id"] as string | undefined, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(mail));
  });
}

const mailTo = (email: string, extra: Record<string, unknown> = {}) => ({
  personalizations: [{ to: [{ email }], custom_args: { deliveryId: "7" } }],
  from: { email: "clinic@example.com" },
  subject: "Reminder",
  content: [{ type: "text/plain", value: "See you at 9" }],
  ...extra,
});

/** Verifies a post the way a receiver must: SendGrid's own helper, over the raw body, with the key SendGrid shows. */
function verified(publicKey: string, post: Received): boolean {
  const webhook = new EventWebhook();
  return webhook.verifySignature(
    webhook.convertPublicKeyToECDSA(publicKey),
    post.body,
    post.headers[EventWebhookHeader.SIGNATURE().toLowerCase()] as string,
    post.headers[EventWebhookHeader.TIMESTAMP().toLowerCase()] as string,
  );
}

function eventsOf(posts: Received[]): SendGridEvent[] {
  return posts.flatMap((post) => JSON.parse(post.body) as SendGridEvent[]);
}

describe("SendGrid Event Webhook", () => {
  let receiver: WebhookReceiver;
  let sim: Simulator;

  beforeEach(async () => {
    receiver = await WebhookReceiver.start();
    sim = await startSimulator({ callbackDelayMs: 10, sendgridEventWebhookUrl: receiver.url("/sendgrid/events") });
  });
  afterEach(async () => {
    await sim.close();
    await receiver.close();
  });

  test("an accepted mail gets processed then delivered, each a signed JSON array that SendGrid's helper verifies", async () => {
    const sent = await sendMail(sim, mailTo("ann@example.com", { categories: ["reminder"] }));
    expect(sent.status).toBe(202);
    const posts = await receiver.waitFor(2, "/sendgrid/events");
    for (const post of posts) {
      expect(post.headers["content-type"]).toBe("application/json");
      expect(verified(sim.sendgridEventPublicKey, post)).toBe(true);
      expect(verified(sim.sendgridEventPublicKey, { ...post, body: post.body.replace("ann@", "bob@") })).toBe(false);
    }
    const [processed, delivered] = eventsOf(posts);
    const common = {
      email: "ann@example.com",
      deliveryId: "7",
      category: "reminder",
      sg_message_id: `${sent.messageId}.filter0001.1.0`,
      "smtp-id": expect.stringMatching(new RegExp(`^<${sent.messageId}@.+>$`)),
    };
    expect(processed).toMatchObject({ ...common, event: "processed" });
    expect(delivered).toMatchObject({ ...common, event: "delivered", response: "250 OK" });
    expect(processed!.sg_event_id).not.toBe(delivered!.sg_event_id);
    const now = Math.floor(Date.now() / 1000);
    for (const event of [processed!, delivered!]) expect(Math.abs(event.timestamp - now)).toBeLessThanOrEqual(2);
  });

  test("a given P-256 signing key is used, its public key shown as base64 DER; another key is refused at start", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    await sim.close();
    sim = await startSimulator({
      callbackDelayMs: 10,
      sendgridEventWebhookUrl: receiver.url("/sendgrid/events"),
      sendgridEventSigningKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    });
    const shown = publicKey.export({ type: "spki", format: "der" }).toString("base64");
    expect(sim.sendgridEventPublicKey).toBe(shown);
    await sendMail(sim, mailTo("ann@example.com"));
    const posts = await receiver.waitFor(2, "/sendgrid/events");
    expect(posts.every((post) => verified(shown, post))).toBe(true);

    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    await expect(startSimulator({ sendgridEventSigningKey: rsa })).rejects.toThrow(/must be an ECDSA key on P-256/);
    await expect(startSimulator({ sendgridEventSigningKey: "nope" })).rejects.toThrow(/sendgridEventSigningKey is not a private key/);
  });

  test("a bounced address gets processed then bounce (5.1.1); bounces can be marked over HTTP", async () => {
    sim.bounceEmail("gone@example.com");
    const marked = await fetch(`${sim.url}/__sim/sendgrid/bounces`, { method: "POST", body: JSON.stringify({ email: "left@example.com" }) });
    expect(marked.status).toBe(201);
    await sendMail(sim, mailTo("Gone@Example.com"));
    await sendMail(sim, mailTo("left@example.com"));
    const posts = await receiver.waitFor(4, "/sendgrid/events");
    const events = eventsOf(posts);
    for (const email of ["Gone@Example.com", "left@example.com"]) {
      expect(events.filter((e) => e.email === email).map((e) => e.event)).toEqual(["processed", "bounce"]);
    }
    expect(events.find((e) => e.event === "bounce")).toMatchObject({ status: "5.1.1", type: "bounce", reason: expect.stringContaining("5.1.1"), deliveryId: "7" });
  });

  test("the URL is set and cleared at runtime and over HTTP, which also shows the public key; reset restores the option", async () => {
    expect(sim.configureSendGridEvents({ url: null })).toEqual({ url: null, publicKey: sim.sendgridEventPublicKey });
    const silent = await sendMail(sim, mailTo("quiet@example.com"));
    const put = await fetch(`${sim.url}/__sim/sendgrid/event-webhook`, { method: "PUT", body: JSON.stringify({ url: receiver.url("/other") }) });
    expect(await put.json()).toEqual({ url: receiver.url("/other"), publicKey: sim.sendgridEventPublicKey });
    const heard = await sendMail(sim, mailTo("ann@example.com"));
    // The silent mail was accepted first: had it been given events, they would have arrived before these.
    const events = eventsOf(await receiver.waitFor(2, "/other"));
    expect(events.map((e) => e.sg_message_id.split(".")[0])).toEqual([heard.messageId, heard.messageId]);
    expect(events.map((e) => e.sg_message_id)).not.toContain(`${silent.messageId}.filter0001.1.0`);

    expect(() => sim.configureSendGridEvents({ url: "not a url" })).toThrow(/absolute http\(s\) URL/);
    sim.reset();
    const got = await fetch(`${sim.url}/__sim/sendgrid/event-webhook`);
    expect(((await got.json()) as { url: string | null }).url).toBe(receiver.url("/sendgrid/events"));
  });

  test("accept-then-500, hang and accept-then-reset still send the events: SendGrid had accepted the mail", async () => {
    sim.injectFault([
      { kind: "accept-then-500", provider: "sendgrid", status: 503 },
      { kind: "accept-then-reset", provider: "sendgrid" },
      { kind: "hang", provider: "sendgrid" },
    ]);
    const answered = await sendMail(sim, mailTo("a@example.com"));
    expect(answered.status).toBe(503);
    expect(JSON.parse(answered.body)).toEqual({ errors: [{ message: "Service Unavailable", field: null, help: null }] });
    await expect(sendMail(sim, mailTo("b@example.com"))).rejects.toMatchObject({ code: "ECONNRESET" });
    void sendMail(sim, mailTo("c@example.com")).catch(() => {});
    const events = eventsOf(await receiver.waitFor(6, "/sendgrid/events"));
    for (const email of ["a@example.com", "b@example.com", "c@example.com"]) {
      expect(events.filter((e) => e.email === email).map((e) => e.event)).toEqual(["processed", "delivered"]);
    }
    expect(sim.records({ provider: "sendgrid" }).map((r) => r.to)).toEqual(["a@example.com", "b@example.com", "c@example.com"]);
  });

  test("every recipient of every personalization gets its own events, with its personalization's custom_args over the mail's", async () => {
    await sendMail(sim, {
      ...mailTo("x@example.com"),
      custom_args: { campaign: "spring", deliveryId: "0" },
      personalizations: [
        { to: [{ email: "one@example.com" }, { email: "two@example.com" }], custom_args: { deliveryId: "1" } },
        { to: [{ email: "three@example.com" }] },
      ],
    });
    const delivered = eventsOf(await receiver.waitFor(6, "/sendgrid/events")).filter((e) => e.event === "delivered");
    // Each recipient's posts race the others' on their own connections: compare them by address, not arrival.
    expect(Object.fromEntries(delivered.map((e) => [e.email, [e.deliveryId, e.campaign]]))).toEqual({
      "one@example.com": ["1", "spring"],
      "two@example.com": ["1", "spring"],
      "three@example.com": ["0", "spring"],
    });
    expect(new Set(delivered.map((e) => e.sg_message_id)).size).toBe(3);
  });
});
