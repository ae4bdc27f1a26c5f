import { createDb, type Db } from "@nudge/db";
import { createTestDatabase, freePort, runCommand, startApp, type AppProcess, type TestDatabase } from "@nudge/testing";
import { loadApiEnv } from "../src";
import { claimStep, deliveryRow, enrolledLead, enrollmentRow, loadTestCampaign, makeDelivery, sid } from "./fixtures";
import { twilioSignature } from "./signing";

/** `nudge api` as an operator runs it: a real process on a real port, stopped by SIGTERM. */

const AUTH_TOKEN = "process-auth-token-0123456789";
const PUBLIC_URL = "https://hooks.example.com";

let database: TestDatabase;
let db: Db;
let api: AppProcess | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, { poolSize: 2 });
});
afterAll(async () => {
  await api?.kill("SIGKILL");
  await db.$disconnect();
  await database.drop();
});

describe("nudge api", () => {
  it("serves signed callbacks on API_PORT and stops on SIGTERM", async () => {
    const port = await freePort();
    api = startApp("apps/cli/src/main.ts", {
      DATABASE_URL: database.url,
      API_PORT: String(port),
      API_HOST: "127.0.0.1",
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      WEBHOOK_PUBLIC_URL: `${PUBLIC_URL}/`,
    }, ["api"]);
    await api.waitForLine(/api listening/);
    expect(api.output.join("\n")).toMatch(/SendGrid events are off/);

    const messageSid = sid();
    const d = await makeDelivery(db, "sms", "unknown");
    const path = `/webhooks/twilio/status?deliveryId=${d.id}`;
    const params = { MessageSid: messageSid, MessageStatus: "delivered" };
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": twilioSignature(AUTH_TOKEN, PUBLIC_URL + path, params) },
      body: new URLSearchParams(params).toString(),
    });
    expect(res.status).toBe(204);
    expect(await deliveryRow(db, d.id)).toMatchObject({ state: "sent", providerMessageId: messageSid });
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);

    expect(await api.kill("SIGTERM")).toBe(0);
    expect(api.output.join("\n")).toMatch(/"msg":"stopped"/);
  });

  it("stops a lead's campaign on an email reply to the Inbound Parse route, logging the counts and the message in flight, never the secret", async () => {
    const secret = "process-inbound-secret-0123456789";
    await loadTestCampaign(db);
    const lead = await enrolledLead(db, { waitingStep: true });
    await claimStep(db, lead.stepId!);
    const port = await freePort();
    const inbound = startApp("apps/cli/src/main.ts", {
      DATABASE_URL: database.url,
      API_PORT: String(port),
      API_HOST: "127.0.0.1",
      SENDGRID_INBOUND_SECRET: secret,
      // Debug: every request's line, so that a URL logged anywhere would show up below.
      LOG_LEVEL: "debug",
    }, ["api"]);
    try {
      expect(await inbound.waitForLine(/api listening/)).toMatch(/"sendGridInbound":true/);
      const form = () => {
        const f = new FormData();
        f.append("from", `Lead <${lead.contact.email}>`);
        f.append("envelope", JSON.stringify({ to: ["replies@nudge.example.com"], from: lead.contact.email }));
        f.append("text", "Yes, call me.");
        return f;
      };
      const wrong = await fetch(`http://127.0.0.1:${port}/webhooks/sendgrid/inbound/${secret}-not`, { method: "POST", body: form() });
      expect(wrong.status).toBe(403);
      const res = await fetch(`http://127.0.0.1:${port}/webhooks/sendgrid/inbound/${secret}`, { method: "POST", body: form() });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ enrollmentsStopped: 1, stepsInFlight: 1, warning: expect.stringMatching(/^one message already in flight/) });
      expect(await enrollmentRow(db, lead.enrollmentId)).toMatchObject({ state: "stopped", stop_reason: "replied by email" });

      const line = JSON.parse(await inbound.waitForLine(/drip enrollments stopped/));
      expect(line).toMatchObject({ level: 40, reason: "replied by email", contacts: 1, enrollmentsStopped: 1, stepsCancelled: 0, stepsInFlight: 1 });
      expect(line.msg).toMatch(/^drip enrollments stopped; one message already in flight/);
      await inbound.waitForLine(/"url":"\/webhooks\/sendgrid\/inbound\/\[secret\]".*"status":200/);
      expect(await inbound.kill("SIGTERM")).toBe(0);
      const output = inbound.output.join("\n");
      expect(output).toMatch(/"url":"\/webhooks\/sendgrid\/inbound\/\[secret\]".*"status":403/);
      expect(output).not.toContain(secret);
      expect(output).not.toContain(lead.contact.email);
    } finally {
      await inbound.kill("SIGKILL");
    }
  });

  it("refuses to start without WEBHOOK_PUBLIC_URL when Twilio's routes are on, naming it (exit 2)", async () => {
    const run = await runCommand(process.execPath, ["--import", "tsx", "apps/cli/src/main.ts", "api"], {
      DATABASE_URL: database.url,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      SENDGRID_WEBHOOK_PUBLIC_KEY: "not-a-key",
    });
    expect(run.code).toBe(2);
    const text = run.lines.join("\n");
    expect(text).toMatch(/WEBHOOK_PUBLIC_URL is missing: required when TWILIO_AUTH_TOKEN is set/);
    expect(text).toMatch(/SENDGRID_WEBHOOK_PUBLIC_KEY is invalid/);
    expect(text).not.toMatch(/\n\s+at /);
  });
});

describe("api environment", () => {
  it("has defaults for a deployment with neither provider configured", () => {
    const env = loadApiEnv({ DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/nudge" });
    expect(env).toMatchObject({ API_PORT: 3100, API_HOST: "0.0.0.0", SHUTDOWN_GRACE_MS: 10_000 });
    expect(env.SMS_HELP_TEXT).toMatch(/STOP/);
  });

  it("takes WEBHOOK_PUBLIC_URL without its trailing slash and refuses one with a query", () => {
    const base = { DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/nudge", TWILIO_AUTH_TOKEN: AUTH_TOKEN };
    expect(loadApiEnv({ ...base, WEBHOOK_PUBLIC_URL: "https://edge.example.com/nudge/" }).WEBHOOK_PUBLIC_URL).toBe("https://edge.example.com/nudge");
    expect(() => loadApiEnv({ ...base, WEBHOOK_PUBLIC_URL: "https://edge.example.com/?a=1" })).toThrow(/WEBHOOK_PUBLIC_URL is invalid: expected an origin/);
    expect(() => loadApiEnv({ ...base, API_PORT: "70000" })).toThrow(/API_PORT/);
  });

  it("takes SENDGRID_INBOUND_SECRET only long enough and URL-safe, naming it", () => {
    const base = { DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/nudge" };
    expect(loadApiEnv(base).SENDGRID_INBOUND_SECRET).toBeUndefined();
    const secret = "a3f1c2e4b5d6a7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
    expect(loadApiEnv({ ...base, SENDGRID_INBOUND_SECRET: secret }).SENDGRID_INBOUND_SECRET).toBe(secret);
    for (const bad of ["short", "has/a-slash-0123456789abcdef", "has a space 0123456789abcdef", "x".repeat(101)]) {
      expect(() => loadApiEnv({ ...base, SENDGRID_INBOUND_SECRET: bad })).toThrow(/SENDGRID_INBOUND_SECRET is invalid: expected 24 to 100 characters/);
    }
  });
});
