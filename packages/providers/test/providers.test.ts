import http from "node:http";
import { AmbiguousSendError, NotAcceptedError, PermanentProviderError, type CrmContactRef, type OutboundMessage } from "@nudge/core";
import { SIMULATOR_HUBSPOT_TOKEN, startSimulator, type Simulator } from "@nudge/simulator";
import twilio from "twilio";
import { createCrmGateway, createMessageProviders, HubSpotCrm, SendGridEmailProvider, TwilioSmsProvider, TwilioVoiceProvider, type TwilioConfig } from "../src";

const ACCOUNT = "AC" + "1".repeat(32);
const TOKEN = "providers-test-token";
const TIMEOUT_MS = 300;

const sms = (deliveryId: number, to = "+15557770001", body = `Reminder ${deliveryId}`): OutboundMessage => ({ deliveryId, channel: "sms", to, body });
const call = (deliveryId: number, body = "Your appointment is tomorrow"): OutboundMessage => ({ deliveryId, channel: "voice", to: "+15557770002", body });
const email = (deliveryId: number): OutboundMessage => ({ deliveryId, channel: "email", to: "ann@example.com", subject: "Reminder", body: "See you tomorrow" });
/** A contact the CRM gateway finds by email (the gateway's own paths are tested in hubspot-crm.test.ts). */
const contact = (contactId = 1): CrmContactRef => ({ contactId, crmId: null, name: "Ann Lee", email: `ann${contactId}@example.com`, phone: null });

describe("provider adapters against the simulator, through the real SDKs", () => {
  let sim: Simulator;
  const twilioConfig = (overrides: Partial<TwilioConfig> = {}): TwilioConfig => ({
    accountSid: ACCOUNT,
    authToken: TOKEN,
    from: "+15550000000",
    baseUrl: sim.url,
    // Nothing listens there: the simulator's callbacks fail quietly, but the delivery id travels and is recorded.
    statusCallbackUrl: "http://127.0.0.1:1/twilio/status",
    timeoutMs: TIMEOUT_MS,
    ...overrides,
  });
  const smsProvider = () => new TwilioSmsProvider(twilioConfig());
  const voiceProvider = () => new TwilioVoiceProvider(twilioConfig());
  const emailProvider = () => new SendGridEmailProvider({ apiKey: "SG.test", from: "clinic@example.com", baseUrl: sim.url, timeoutMs: TIMEOUT_MS });
  const crm = () => new HubSpotCrm({ accessToken: SIMULATOR_HUBSPOT_TOKEN, baseUrl: sim.url, timeoutMs: TIMEOUT_MS, batchWindowMs: 1 });

  beforeEach(async () => {
    // Nudge's properties unprovisioned but accepted: the portal's refusals are hubspot-crm.test.ts's subject.
    sim = await startSimulator({ twilioAuthToken: TOKEN, callbackDelayMs: 10, hubspot: { rejectUnknownProperties: false } });
  });
  afterEach(async () => {
    await sim.close();
  });

  describe("happy paths: accepted once, with the delivery id", () => {
    test("SMS", async () => {
      const receipt = await smsProvider().send(sms(11));
      expect(receipt.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
      expect(sim.records()).toEqual([
        expect.objectContaining({ provider: "twilio-sms", id: receipt.providerMessageId, to: "+15557770001", body: "Reminder 11", deliveryId: "11" }),
      ]);
    });

    test("voice: inline TwiML with the body XML-escaped", async () => {
      const receipt = await voiceProvider().send(call(12, "Tom & Jerry <3"));
      expect(receipt.providerMessageId).toMatch(/^CA[0-9a-f]{32}$/);
      expect(sim.records()).toEqual([
        expect.objectContaining({ provider: "twilio-voice", deliveryId: "12", body: "<Response><Say>Tom &amp; Jerry &lt;3</Say></Response>" }),
      ]);
    });

    test("email: custom_args carry the delivery id; the receipt is X-Message-Id", async () => {
      const receipt = await emailProvider().send(email(13));
      expect(receipt.providerMessageId).not.toBe("");
      expect(sim.records()).toEqual([
        expect.objectContaining({ provider: "sendgrid", id: receipt.providerMessageId, to: "ann@example.com", subject: "Reminder", body: "See you tomorrow", deliveryId: "13" }),
      ]);
    });

    test("CRM: the stored id's contact gets the properties, in one request", async () => {
      sim.seedCrmContact({ email: "ann1@example.com" }, "9001");
      const id = await crm().upsertContact({ ...contact(), crmId: "9001" }, { nudge_last_reminder_step: "2", nudge_last_reminder_channel: "sms" });
      expect(id).toBe("9001");
      expect(sim.crmContact("9001")?.properties).toMatchObject({ nudge_last_reminder_step: "2", nudge_last_reminder_channel: "sms", nudge_contact_id: "1" });
      expect(sim.records({ provider: "hubspot" })).toHaveLength(1);
    });

    test("without statusCallbackUrl, no StatusCallback (and so no deliveryId) is sent", async () => {
      await new TwilioSmsProvider(twilioConfig({ statusCallbackUrl: undefined })).send(sms(14));
      expect(sim.records()[0]!.deliveryId).toBeUndefined();
    });
  });

  test("500 -> NotAcceptedError with needsLookup, nothing recorded (SMS, voice)", async () => {
    sim.injectFault({ kind: "500", times: 2 });
    for (const [provider, message] of [[smsProvider(), sms(21)], [voiceProvider(), call(22)]] as const) {
      const err = await provider.send(message).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotAcceptedError);
      expect(err).toMatchObject({ needsLookup: true, status: 500 });
    }
    expect(sim.records()).toHaveLength(0);
  });

  test("a SendGrid 5xx is ambiguous: the email may have been accepted upstream and no lookup can tell", async () => {
    sim.injectFault({ kind: "500", provider: "sendgrid", times: 1 });
    const err = await emailProvider().send(email(23)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AmbiguousSendError);
    expect((err as Error).message).toMatch(/HTTP 500.*never resend blindly/);
  });

  test("429 -> NotAcceptedError with retryAfterMs from Retry-After (SMS, email, CRM)", async () => {
    sim.injectFault({ kind: "429", times: 3, retryAfterSeconds: 7 });
    const errors = [await smsProvider().send(sms(31)).catch((e: unknown) => e), await emailProvider().send(email(32)).catch((e: unknown) => e), await crm().upsertContact(contact(), { a: "b" }).catch((e: unknown) => e)];
    for (const err of errors) {
      expect(err).toBeInstanceOf(NotAcceptedError);
      expect(err).toMatchObject({ retryAfterMs: 7000, status: 429, needsLookup: false });
    }
    expect(sim.records()).toHaveLength(0);
  });

  test("refused connections -> NotAcceptedError (SMS, voice, email, CRM)", async () => {
    const providers = { sms: smsProvider(), voice: voiceProvider(), email: emailProvider(), crm: crm() };
    await providers.sms.send(sms(40)); // a pooled keep-alive connection must not hide the outage
    await sim.refuseConnections(1000);
    const errors = [
      await providers.sms.send(sms(41)).catch((e: unknown) => e),
      await providers.voice.send(call(42)).catch((e: unknown) => e),
      await providers.email.send(email(43)).catch((e: unknown) => e),
      await providers.crm.upsertContact(contact(), { a: "b" }).catch((e: unknown) => e),
    ];
    for (const err of errors) {
      expect(err).toBeInstanceOf(NotAcceptedError);
      expect((err as NotAcceptedError).needsLookup).toBe(false);
      expect((err as Error).message).toMatch(/ECONNREFUSED/);
    }
    expect(sim.records()).toHaveLength(1);
  });

  test("accept-then-reset -> AmbiguousSendError and exactly one record (SMS, voice, email); CRM: retryable", async () => {
    sim.injectFault({ kind: "accept-then-reset", times: 4 });
    for (const [provider, message] of [[smsProvider(), sms(51)], [voiceProvider(), call(52)], [emailProvider(), email(53)]] as const) {
      await expect(provider.send(message)).rejects.toBeInstanceOf(AmbiguousSendError);
      expect(sim.records({ deliveryId: message.deliveryId })).toHaveLength(1);
    }
    expect(sim.records()).toHaveLength(3);
    await expect(crm().upsertContact(contact(), { a: "b" })).rejects.toBeInstanceOf(NotAcceptedError);
  });

  test("a plain reset looks the same from the client: ambiguous, though nothing was recorded", async () => {
    sim.injectFault({ kind: "reset", provider: "twilio-sms" });
    await expect(smsProvider().send(sms(55))).rejects.toBeInstanceOf(AmbiguousSendError);
    expect(sim.records()).toHaveLength(0);
  });

  test("hang -> AmbiguousSendError after timeoutMs and one record (SMS, email); CRM: NotAcceptedError", async () => {
    sim.injectFault({ kind: "hang", times: 3 });
    for (const [provider, message] of [[smsProvider(), sms(61)], [emailProvider(), email(62)]] as const) {
      const started = Date.now();
      const err = await provider.send(message).catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      expect(err).toBeInstanceOf(AmbiguousSendError);
      expect((err as Error).message).toMatch(/no answer in time/);
      expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
      expect(elapsed).toBeLessThan(TIMEOUT_MS + 400);
    }
    expect(sim.records().map((r) => [r.provider, r.deliveryId])).toEqual([["twilio-sms", "61"], ["sendgrid", "62"]]);
    const started = Date.now();
    await expect(crm().upsertContact(contact(), { a: "b" })).rejects.toBeInstanceOf(NotAcceptedError);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 400);
  });

  test("unsubscribed recipient -> PermanentProviderError code 21610", async () => {
    sim.unsubscribe("+15557770009");
    const err = await smsProvider().send(sms(71, "+15557770009")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentProviderError);
    expect(err).toMatchObject({ code: 21610, status: 400 });
    expect((err as Error).message).toMatch(/unsubscribed/);
  });

  test("other 4xx are permanent: invalid number (21211), email without subject, a contact HubSpot refuses", async () => {
    await expect(smsProvider().send(sms(72, "not-a-number"))).rejects.toMatchObject({ name: "PermanentProviderError", code: 21211 });
    await expect(emailProvider().send({ ...email(73), subject: undefined })).rejects.toMatchObject({ name: "PermanentProviderError", status: 400 });
    await expect(crm().upsertContact({ ...contact(), email: "not-an-email" }, { a: "b" })).rejects.toMatchObject({
      name: "PermanentProviderError",
      status: 400,
      code: "VALIDATION_ERROR",
      message: expect.stringContaining("Email address not-an-email is invalid"),
    });
  });

  test("the status callback arrives signed: twilio.validateRequest accepts it", async () => {
    const received: Array<{ url: string; signature: string; params: Record<string, string> }> = [];
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push({ url: req.url!, signature: String(req.headers["x-twilio-signature"]), params: Object.fromEntries(new URLSearchParams(body)) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/twilio/status`;
      const receipt = await new TwilioSmsProvider(twilioConfig({ statusCallbackUrl: base })).send(sms(81));
      for (let i = 0; i < 50 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(received.map((r) => r.params.MessageStatus)).toEqual(["sent", "delivered"]);
      for (const callback of received) {
        expect(callback.params).toMatchObject({ MessageSid: receipt.providerMessageId, AccountSid: ACCOUNT, To: "+15557770001" });
        const fullUrl = `${base.replace("/twilio/status", "")}${callback.url}`;
        expect(fullUrl).toBe(`${base}?deliveryId=81`);
        expect(twilio.validateRequest(TOKEN, callback.signature, fullUrl, callback.params)).toBe(true);
        expect(twilio.validateRequest("another-token", callback.signature, fullUrl, callback.params)).toBe(false);
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test("Twilio lookup finds a message sent since `since` with the same body, and nothing else", async () => {
    const provider = smsProvider();
    const since = new Date();
    const receipt = await provider.send(sms(91));
    await provider.send(sms(92, "+15557770001", "another text"));
    expect(await provider.lookup(sms(91), since)).toEqual({ kind: "found", providerMessageId: receipt.providerMessageId });
    expect(await provider.lookup(sms(93, "+15557770001", "never sent"), since)).toEqual({ kind: "absent" });
    expect(await provider.lookup(sms(91), new Date(Date.now() + 5_000))).toEqual({ kind: "absent" });
  });

  test("the voice lookup cannot attribute a call (no body kept): it reports the calls to that number, not a match", async () => {
    const provider = voiceProvider();
    const since = new Date();
    expect(await provider.lookup(call(94), since)).toEqual({ kind: "absent" });
    const receipt = await provider.send(call(94));
    expect(await provider.lookup(call(94), since)).toEqual({ kind: "unattributable", candidates: [receipt.providerMessageId] });
  });

  test("lookup failures are retryable NotAcceptedErrors, never ambiguous", async () => {
    sim.injectFault({ kind: "hang", provider: "twilio-sms" });
    await expect(smsProvider().lookup(sms(95), new Date())).rejects.toBeInstanceOf(NotAcceptedError);
  });

  test("createMessageProviders and createCrmGateway wire the four adapters from one config", async () => {
    const providers = {
      ...createMessageProviders({
        twilio: twilioConfig(),
        sendgrid: { apiKey: "SG.test", from: "clinic@example.com", baseUrl: sim.url, timeoutMs: TIMEOUT_MS },
      }),
      crm: createCrmGateway({ accessToken: SIMULATOR_HUBSPOT_TOKEN, baseUrl: `${sim.url}/`, timeoutMs: TIMEOUT_MS }),
    };
    expect([providers.sms.channel, providers.voice.channel, providers.email.channel]).toEqual(["sms", "voice", "email"]);
    await providers.sms.send(sms(101));
    await providers.voice.send(call(102));
    await providers.email.send(email(103));
    await providers.crm.upsertContact(contact(5), { x: "y" });
    expect(sim.records().map((r) => r.provider)).toEqual(["twilio-sms", "twilio-voice", "sendgrid", "hubspot"]);
  });
});
