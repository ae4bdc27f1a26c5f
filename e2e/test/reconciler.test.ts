import { createAppointment, createContact, eventually, freePort, startApp, type AppProcess } from "@nudge/testing";
import { type Fleet, sendsPerRecipient, startFleet } from "./fleet";

/**
 * The fleet with its webhooks app and reconciler, against the simulator's faults: whatever a fault left `unknown`
 * ends resolved from the provider's record, and every recipient gets exactly one message.
 */
let fleet: Fleet;
const apps: AppProcess[] = [];

beforeEach(async () => {
  fleet = await startFleet();
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  fleet.sim.configureSendGridEvents({ url: `${apiUrl}/webhooks/sendgrid/events` });
  fleet.sim.configureTwilioInbound({ url: `${apiUrl}/webhooks/twilio/inbound` });
  const env = {
    ...fleet.workerEnv,
    TWILIO_STATUS_CALLBACK_URL: `${apiUrl}/webhooks/twilio/status`,
    API_PORT: String(apiPort),
    API_HOST: "127.0.0.1",
    WEBHOOK_PUBLIC_URL: apiUrl,
    SENDGRID_WEBHOOK_PUBLIC_KEY: fleet.sim.sendgridEventPublicKey,
    SENDGRID_EVENTS: "on",
    RECONCILE_INTERVAL_MS: "500",
    RECONCILE_SETTLE_MS: "3000",
    RECONCILE_EMAIL_SETTLE_MS: "3000",
  };
  Object.assign(fleet.workerEnv, env);
  const api = startApp("apps/api/src/main.ts", env);
  apps.push(api);
  await api.waitForLine(/"msg":"api listening"/);
  const reconciler = startApp("apps/reconciler/src/main.ts", env);
  apps.push(reconciler);
  await reconciler.waitForLine(/"msg":"reconciler started"/);
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.kill("SIGKILL")));
  await fleet.close();
});

/** `count` appointments, each with a phone and address of its own, whose due step is `channel`. */
async function seed(count: number, channel: "email" | "sms" | "voice", from = 0): Promise<Array<{ appointmentId: number; to: string }>> {
  const inMinutes = { email: 600, sms: 90, voice: 20 }[channel];
  const seeded = [];
  for (let i = from; i < from + count; i++) {
    const contact = await createContact(fleet.db, { phone: `+1555030${String(i).padStart(4, "0")}`, email: `reconcile${i}@example.com` });
    const appt = await createAppointment(fleet.db, contact.id, { inMinutes });
    seeded.push({ appointmentId: appt.id, to: channel === "email" ? contact.email! : contact.phone! });
  }
  return seeded;
}

/** Waits until `count` deliveries exist and every one is settled and resolved (nothing pending, sending or unknown). */
function resolved(count: number, timeoutMs = 60_000) {
  return eventually(
    `${count} resolved deliveries`,
    async () => {
      const rows = await fleet.db.delivery.findMany({ orderBy: { id: "asc" } });
      return rows.length >= count && rows.every((r) => !["pending", "sending", "unknown"].includes(r.state)) ? rows : undefined;
    },
    timeoutMs,
  );
}

describe("the reconciler in the fleet", () => {
  it("SMS and calls: accepted-then-cut-off ends sent with the provider's id, never-reached is sent exactly once", async () => {
    const phones = [...(await seed(20, "sms")), ...(await seed(10, "voice", 20))];
    await fleet.startWorker();
    fleet.sim.injectFault([
      { kind: "accept-then-reset", provider: "twilio-sms", times: 4 },
      { kind: "reset", provider: "twilio-sms", times: 4 },
      { kind: "accept-then-500", provider: "twilio-sms", times: 2 },
      { kind: "accept-then-reset", provider: "twilio-voice", times: 3 },
      { kind: "reset", provider: "twilio-voice", times: 3 },
    ]);
    await fleet.pass();
    const rows = await resolved(phones.length);
    const perRecipient = sendsPerRecipient(fleet.sim);
    for (const s of phones) expect([s.to, perRecipient.get(s.to)]).toEqual([s.to, 1]);
    // Every delivery is `sent` under the very message the provider accepted for it, whichever way it got there.
    for (const row of rows) {
      const records = fleet.sim.records({ deliveryId: row.id });
      expect([row.id, row.state, row.providerMessageId]).toEqual([row.id, "sent", records[0]!.id]);
    }
    const reasons = rows.map((r) => r.reason ?? "");
    expect(reasons.filter((r) => /found in the provider's list|confirmed by the provider/.test(r)).length).toBeGreaterThanOrEqual(1);
  });

  it("SendGrid accepting and then answering 502 on 10 % of sends: no email twice, none missing", async () => {
    const emails = await seed(60, "email");
    fleet.sim.injectFault({ kind: "accept-then-500", provider: "sendgrid", status: 502, times: 6 });
    await fleet.startWorker();
    await fleet.pass();
    const rows = await resolved(emails.length);
    const perRecipient = sendsPerRecipient(fleet.sim);
    for (const e of emails) expect([e.to, perRecipient.get(e.to)]).toEqual([e.to, 1]);
    expect(rows.filter((r) => r.state !== "sent")).toEqual([]);
    // The six 502s were resolved from SendGrid's events, not by sending again.
    expect(rows.filter((r) => /confirmed by the provider/.test(r.reason ?? ""))).toHaveLength(6);
  });

  it("a STOP reply blocks SMS and calls to that number from then on; START lets them through again", async () => {
    const [stopped] = await seed(1, "sms");
    expect(await fleet.sim.receiveSms({ from: stopped!.to, body: " stop " })).toMatchObject({ status: 200 });
    await fleet.startWorker();
    await fleet.pass();
    const [row] = await resolved(1);
    expect(row).toMatchObject({ state: "skipped", reason: expect.stringMatching(/opted out: replied STOP/) });
    expect(sendsPerRecipient(fleet.sim).get(stopped!.to)).toBeUndefined();

    // A call to the same number is blocked too, and after START the next reminder goes out.
    const contact = await fleet.db.contact.findFirstOrThrow({ where: { phone: stopped!.to } });
    const call = await createAppointment(fleet.db, contact.id, { inMinutes: 20 });
    await fleet.pass();
    await eventually("the call settled", async () => {
      const d = await fleet.db.delivery.findFirst({ where: { appointmentId: call.id, state: { notIn: ["pending", "sending"] } } });
      return d ?? undefined;
    }).then((d) => expect(d).toMatchObject({ channel: "voice", state: "skipped", reason: expect.stringMatching(/opted out/) }));
    expect(await fleet.sim.receiveSms({ from: stopped!.to, body: "START" })).toMatchObject({ status: 200 });
    const later = await createAppointment(fleet.db, contact.id, { inMinutes: 100 });
    await fleet.pass();
    await eventually("the SMS after START sent", async () => (await fleet.db.delivery.findFirst({ where: { appointmentId: later.id, state: "sent" } })) ?? undefined);
    expect(sendsPerRecipient(fleet.sim).get(stopped!.to)).toBe(1);
  });
});
