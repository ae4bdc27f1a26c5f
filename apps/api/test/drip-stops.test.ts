import { randomBytes } from "node:crypto";
import { createDb, type Db } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { createTestDatabase, type TestDatabase } from "@nudge/testing";
import { buildWebhooks, SENDGRID_INBOUND_PATH, type WebhooksApp } from "../src";
import { loggableUrl } from "../src/request-log";
import { claimStep, enrolledLead as enrolledLeadIn, enrollmentRow as enrollmentRowIn, loadTestCampaign, snapshot, stepRow as stepRowIn, suppressionsFor } from "./fixtures";
import { listen, type Client } from "./http-client";
import { sendGridSigner, twilioSignature } from "./signing";

/**
 * Stop conditions: a lead who replies (SMS or email), texts STOP, unsubscribes or reports spam leaves its drip
 * campaigns, and the steps waiting for it are cancelled in the same transaction. Real Postgres, real HTTP; the
 * enrollment and its waiting step are made as the drip worker makes them (advance + create in one transaction).
 */

const AUTH_TOKEN = "drip-stops-auth-token-0123456789";
const PUBLIC_URL = "https://nudge.example.com";
const INBOUND_SECRET = "inbound-secret-0123456789abcdef";
const signer = sendGridSigner();

let database: TestDatabase;
let db: Db;
let app: WebhooksApp;
let client: Client;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, { poolSize: 3 });
  await loadTestCampaign(db);
  app = buildWebhooks({
    db,
    logger: createLogger("api-test", "silent"),
    twilio: { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL },
    sendGrid: { publicKey: signer.publicKey },
    sendGridInbound: { secret: INBOUND_SECRET },
  });
  client = await listen(app);
});
afterAll(async () => {
  client.close();
  await app.close();
  await db.$disconnect();
  await database.drop();
});

const enrolledLead = (options: { waitingStep?: boolean } = {}) => enrolledLeadIn(db, options);
const enrollmentRow = (id: number) => enrollmentRowIn(db, id);
const stepRow = (id: number) => stepRowIn(db, id);
const claim = (deliveryId: number) => claimStep(db, deliveryId);

function inboundSms(from: string, body: string, signing: "valid" | "none" | "forged" = "valid") {
  const path = "/webhooks/twilio/inbound";
  const params = { AccountSid: "AC00000000000000000000000000000000", MessageSid: `SM${randomBytes(16).toString("hex")}`, From: from, To: "+15005550006", Body: body };
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (signing === "valid") headers["x-twilio-signature"] = twilioSignature(AUTH_TOKEN, PUBLIC_URL + path, params);
  if (signing === "forged") headers["x-twilio-signature"] = twilioSignature("someone-elses-token-0000", PUBLIC_URL + path, params);
  return client.request({ url: path, headers, payload: new URLSearchParams(params).toString() });
}

function sendGridEvents(events: object[]) {
  const body = `${JSON.stringify(events)}\r\n`;
  return client.request({ url: "/webhooks/sendgrid/events", headers: { "content-type": "application/json", ...signer.headers(body) }, payload: body });
}

const sendGridEvent = (email: string, name: string, extra: object = {}) => ({
  email,
  timestamp: Math.floor(Date.now() / 1000),
  event: name,
  sg_event_id: randomBytes(16).toString("base64url").slice(0, 22),
  ...extra,
});

/** A form encoded as multipart/form-data by the platform's own encoder (undici's), as SendGrid would post it. */
async function multipart(fields: Record<string, string> | Array<[string, string]>, files: Array<{ name: string; filename: string; content: string }> = []) {
  const form = new FormData();
  for (const [name, value] of Array.isArray(fields) ? fields : Object.entries(fields)) form.append(name, value);
  for (const file of files) form.append(file.name, new Blob([file.content], { type: "application/pdf" }), file.filename);
  const request = new Request("http://127.0.0.1/", { method: "POST", body: form });
  return { payload: Buffer.from(await request.arrayBuffer()), contentType: request.headers.get("content-type")! };
}

/** An Inbound Parse post of an email from `sender`, with the fields SendGrid sends. */
function parseFields(sender: { header?: string; envelope?: string }, extra: Record<string, string> = {}) {
  return {
    headers: "Received: by mx0047p1mdw1.sendgrid.net\nSubject: Re: Still interested?",
    dkim: "{@example.com : pass}",
    to: "Acme Sales <replies@nudge.example.com>",
    ...(sender.header !== undefined && { from: sender.header }),
    subject: "Re: Still interested?",
    text: "Yes, please call me tomorrow.\n\nOn Tue, Acme wrote:\n> Hi, any questions?",
    html: "<p>Yes, please call me tomorrow.</p>",
    sender_ip: "192.0.2.10",
    ...(sender.envelope !== undefined && { envelope: JSON.stringify({ to: ["replies@nudge.example.com"], from: sender.envelope }) }),
    attachments: "0",
    charsets: JSON.stringify({ to: "UTF-8", from: "UTF-8", subject: "UTF-8", text: "UTF-8", html: "UTF-8" }),
    SPF: "pass",
    ...extra,
  };
}

async function inboundEmail(fields: Record<string, string>, options: { secret?: string; files?: Array<{ name: string; filename: string; content: string }> } = {}) {
  const { payload, contentType } = await multipart(fields, options.files);
  return client.request({ url: `${SENDGRID_INBOUND_PATH}/${options.secret ?? INBOUND_SECRET}`, headers: { "content-type": contentType }, payload });
}

describe("an SMS from a lead", () => {
  it("is a reply: it stops the lead's active enrollment and cancels its waiting step, and leaves other leads alone", async () => {
    const lead = await enrolledLead({ waitingStep: true });
    const other = await enrolledLead({ waitingStep: true });
    const res = await inboundSms(lead.contact.phone, "Sounds good, call me after 5");
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe("<Response/>");

    expect(await enrollmentRow(lead.enrollmentId)).toEqual({ state: "stopped", stop_reason: "replied by SMS", next_due_at: null });
    expect(await stepRow(lead.stepId!)).toEqual({ state: "cancelled", reason: "enrollment stopped: replied by SMS" });
    expect(await enrollmentRow(other.enrollmentId)).toMatchObject({ state: "active", stop_reason: null });
    expect(await stepRow(other.stepId!)).toMatchObject({ state: "pending" });
    // A reply is not an opt-out: reminders by SMS and calls still reach the number.
    expect(await suppressionsFor(db, lead.contact.phone)).toEqual([]);

    // The same reply again (or Twilio's retry) finds nothing left to stop and changes nothing.
    const before = await snapshot(db);
    expect((await inboundSms(lead.contact.phone, "Sounds good, call me after 5")).statusCode).toBe(200);
    expect(await snapshot(db)).toBe(before);
  });

  it("STOP suppresses the number as before and stops the enrollment as an opt-out; HELP still answers with the help text", async () => {
    const stopped = await enrolledLead({ waitingStep: true });
    expect((await inboundSms(stopped.contact.phone, " stop ")).body).toBe("<Response/>");
    expect(await enrollmentRow(stopped.enrollmentId)).toMatchObject({ state: "stopped", stop_reason: "opted out by SMS (STOP)" });
    expect(await stepRow(stopped.stepId!)).toEqual({ state: "cancelled", reason: "enrollment stopped: opted out by SMS (STOP)" });
    expect(await suppressionsFor(db, stopped.contact.phone)).toEqual([
      { channel: "sms", reason: "replied STOP", source: "twilio-inbound" },
      { channel: "voice", reason: "replied STOP", source: "twilio-inbound" },
    ]);

    const helped = await enrolledLead();
    const res = await inboundSms(helped.contact.phone, "HELP");
    expect(res.body).toMatch(/^<Response><Message>.+<\/Message><\/Response>$/);
    expect(await enrollmentRow(helped.enrollmentId)).toMatchObject({ state: "stopped", stop_reason: "replied by SMS (HELP)" });
  });

  it("with a missing or forged signature stops nothing (403)", async () => {
    const lead = await enrolledLead({ waitingStep: true });
    const before = await snapshot(db);
    for (const signing of ["none", "forged"] as const) {
      for (const body of ["Yes please", "STOP"]) {
        const res = await inboundSms(lead.contact.phone, body, signing);
        expect({ signing, body, status: res.statusCode }).toEqual({ signing, body, status: 403 });
      }
    }
    expect(await snapshot(db)).toBe(before);
    expect(await enrollmentRow(lead.enrollmentId)).toMatchObject({ state: "active" });
    expect(await stepRow(lead.stepId!)).toMatchObject({ state: "pending" });
  });
});

describe("SendGrid events", () => {
  it("an unsubscribe stops the address's enrollments (any case) and suppresses it; the answer counts what stopped", async () => {
    const lead = await enrolledLead({ waitingStep: true });
    const res = await sendGridEvents([sendGridEvent(lead.contact.email.toUpperCase(), "unsubscribe")]);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ received: 1, duplicates: 0, enrollmentsStopped: 1, stepsCancelled: 1, stepsInFlight: 0 });
    expect(await enrollmentRow(lead.enrollmentId)).toMatchObject({ state: "stopped", stop_reason: "opted out by email (unsubscribe)" });
    expect(await stepRow(lead.stepId!)).toEqual({ state: "cancelled", reason: "enrollment stopped: opted out by email (unsubscribe)" });
    expect(await suppressionsFor(db, lead.contact.email)).toEqual([{ channel: "email", reason: "unsubscribe", source: "sendgrid" }]);
  });

  it("group_unsubscribe and spamreport stop too; a bounce suppresses but leaves the campaign's SMS steps to go out", async () => {
    const grouped = await enrolledLead();
    const spam = await enrolledLead();
    const bounced = await enrolledLead();
    const res = await sendGridEvents([
      sendGridEvent(grouped.contact.email, "group_unsubscribe", { asm_group_id: 42 }),
      sendGridEvent(spam.contact.email, "spamreport"),
      sendGridEvent(bounced.contact.email, "bounce", { reason: "550 5.1.1 unknown user" }),
    ]);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ received: 3, duplicates: 0, enrollmentsStopped: 2, stepsCancelled: 0, stepsInFlight: 0 });
    expect(await enrollmentRow(grouped.enrollmentId)).toMatchObject({ state: "stopped", stop_reason: "opted out by email (group_unsubscribe)" });
    expect(await enrollmentRow(spam.enrollmentId)).toMatchObject({ state: "stopped", stop_reason: "opted out by email (spamreport)" });
    expect(await enrollmentRow(bounced.enrollmentId)).toMatchObject({ state: "active" });
    expect(await suppressionsFor(db, bounced.contact.email)).toEqual([{ channel: "email", reason: "bounce: 550 5.1.1 unknown user", source: "sendgrid" }]);
  });

  it("says so when a step was already claimed: it may still reach the lead", async () => {
    const lead = await enrolledLead({ waitingStep: true });
    await claim(lead.stepId!);
    const res = await sendGridEvents([sendGridEvent(lead.contact.email, "unsubscribe")]);
    expect(res.json()).toMatchObject({ enrollmentsStopped: 1, stepsCancelled: 0, stepsInFlight: 1, warning: expect.stringMatching(/^one message already in flight/) });
    expect(await stepRow(lead.stepId!)).toMatchObject({ state: "sending" });
  });
});

describe("SendGrid Inbound Parse (an email reply)", () => {
  it("with the right secret stops the sender's enrollments, found by the envelope's sender; attachments are read past", async () => {
    const lead = await enrolledLead({ waitingStep: true });
    const other = await enrolledLead();
    // The From header names someone else (a shared inbox, a forwarded mail): the envelope decides.
    const fields = parseFields({ header: `Lead <${other.contact.email}>`, envelope: lead.contact.email }, { attachments: "1" });
    const res = await inboundEmail(fields, { files: [{ name: "attachment1", filename: "brochure.pdf", content: "%PDF-1.4 ".repeat(20_000) }] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ sender: expect.stringMatching(/^l\*\*\*@example\.com$/), enrollmentsStopped: 1, stepsCancelled: 1, stepsInFlight: 0 });
    expect(await enrollmentRow(lead.enrollmentId)).toMatchObject({ state: "stopped", stop_reason: "replied by email" });
    expect(await stepRow(lead.stepId!)).toEqual({ state: "cancelled", reason: "enrollment stopped: replied by email" });
    expect(await enrollmentRow(other.enrollmentId)).toMatchObject({ state: "active" });
    // A reply is not an unsubscribe.
    expect(await suppressionsFor(db, lead.contact.email)).toEqual([]);
  });

  it("takes the From header's address when the envelope has no sender, and says when messages were in flight", async () => {
    const lead = await enrolledLead({ waitingStep: true });
    await claim(lead.stepId!);
    const res = await inboundEmail(parseFields({ header: `"Lead, Test" <${lead.contact.email.toUpperCase()}>`, envelope: "" }));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ enrollmentsStopped: 1, stepsCancelled: 0, stepsInFlight: 1, warning: expect.stringMatching(/^one message already in flight/) });

    // Two leads on one address (a couple sharing an inbox), each with a step claimed: "2 messages".
    const first = await enrolledLead({ waitingStep: true });
    const second = await enrolledLead({ waitingStep: true });
    await db.$executeRaw`UPDATE contacts SET email = ${first.contact.email} WHERE id = ${second.contact.id}`;
    await claim(first.stepId!);
    await claim(second.stepId!);
    const both = await inboundEmail(parseFields({ envelope: first.contact.email }));
    expect(both.json()).toMatchObject({ enrollmentsStopped: 2, stepsInFlight: 2, warning: expect.stringMatching(/^2 messages already in flight/) });
  });

  it("refuses a wrong or missing secret with 403 and changes nothing", async () => {
    const lead = await enrolledLead({ waitingStep: true });
    const before = await snapshot(db);
    const fields = parseFields({ header: lead.contact.email, envelope: lead.contact.email });
    for (const secret of [`${INBOUND_SECRET}x`, INBOUND_SECRET.slice(0, -1), INBOUND_SECRET.toUpperCase(), "x", "%20", ""]) {
      const res = await inboundEmail(fields, { secret });
      expect({ secret, status: res.statusCode }).toEqual({ secret, status: 403 });
      expect(res.json().error).toMatch(/secret/);
      expect(res.body).not.toContain(INBOUND_SECRET);
    }
    const { payload, contentType } = await multipart(fields);
    // No secret segment at all: not this route.
    expect((await client.request({ url: SENDGRID_INBOUND_PATH, headers: { "content-type": contentType }, payload })).statusCode).toBe(404);
    expect(await snapshot(db)).toBe(before);
    expect(await enrollmentRow(lead.enrollmentId)).toMatchObject({ state: "active" });
  });

  it("answers 400 naming the problem when there is no sender, or the form is malformed, and writes nothing", async () => {
    const lead = await enrolledLead({ waitingStep: true });
    const before = await snapshot(db);
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ["no envelope, no from", parseFields({}), /^no sender: envelope\.from is missing or empty and from is missing$/],
      ["an empty envelope sender and a From without an address", parseFields({ header: "Lead Person", envelope: "" }), /^no sender: .*from "Lead Person" has no address/],
      ["an envelope that is not JSON", parseFields({ header: lead.contact.email }, { envelope: "{from: nope" }), /^envelope .* is not JSON/],
      ["an envelope sender that is not a string", parseFields({ header: lead.contact.email }, { envelope: '{"from": 7}' }), /^envelope\.from must be a string$/],
    ];
    for (const [what, fields, error] of cases) {
      const res = await inboundEmail(fields);
      expect({ what, status: res.statusCode, error: res.json().error }).toEqual({ what, status: 400, error: expect.stringMatching(error) });
    }
    const url = `${SENDGRID_INBOUND_PATH}/${INBOUND_SECRET}`;
    const { payload, contentType } = await multipart(parseFields({ envelope: lead.contact.email }));
    const truncated = await client.request({ url, headers: { "content-type": contentType }, payload: payload.subarray(0, payload.length - 40) });
    expect(truncated.statusCode).toBe(400);
    expect(truncated.json().error).toMatch(/multipart\/form-data body is malformed/);
    const envelope = JSON.stringify({ from: lead.contact.email });
    const twice = await multipart([["envelope", envelope], ["envelope", envelope]]);
    const duplicate = await client.request({ url, headers: { "content-type": twice.contentType }, payload: twice.payload });
    expect(duplicate.statusCode).toBe(400);
    expect(duplicate.json().error).toMatch(/"envelope" is given more than once/);
    const json = await client.request({ url, headers: { "content-type": "application/json" }, payload: JSON.stringify({ from: lead.contact.email }) });
    expect(json.statusCode).toBe(415);
    expect(json.json().error).toMatch(/multipart\/form-data/);
    expect(await snapshot(db)).toBe(before);
    expect(await enrollmentRow(lead.enrollmentId)).toMatchObject({ state: "active" });
  });

  it("answers 404 when SENDGRID_INBOUND_SECRET is not set", async () => {
    const off = buildWebhooks({ db, logger: createLogger("api-test", "silent") });
    const offClient = await listen(off);
    try {
      const { payload, contentType } = await multipart(parseFields({ envelope: "someone@example.com" }));
      const res = await offClient.request({ url: `${SENDGRID_INBOUND_PATH}/${INBOUND_SECRET}`, headers: { "content-type": contentType }, payload });
      expect(res.statusCode).toBe(404);
    } finally {
      offClient.close();
      await off.close();
    }
  });

  it("keeps the secret out of the request log's URL", () => {
    expect(loggableUrl(`${SENDGRID_INBOUND_PATH}/${INBOUND_SECRET}`)).toBe(`${SENDGRID_INBOUND_PATH}/[secret]`);
    expect(loggableUrl(`${SENDGRID_INBOUND_PATH}/${INBOUND_SECRET}?a=1`)).toBe(`${SENDGRID_INBOUND_PATH}/[secret]?a=1`);
    expect(loggableUrl("/webhooks/twilio/status?deliveryId=4")).toBe("/webhooks/twilio/status?deliveryId=4");
  });
});
