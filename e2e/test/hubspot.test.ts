import path from "node:path";
import { simulatorProviderEnv } from "@nudge/simulator";
import { type CommandRun, createAppointment, createContact, eventually, REPO_ROOT, runCommand } from "@nudge/testing";
import { startFleet, type Fleet } from "./fleet";

/**
 * HubSpot as it really is, through the real SDK and real worker processes: a portal that rejects properties it does
 * not have, contacts that are not in it yet (or were deleted), a contact HubSpot refuses, a bad token, and the rate
 * limit. "Sent" is judged by the simulator's record.
 */
let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

const messagesTo = (f: Fleet, to: string) => f.sim.records({ to }).filter((r) => r.provider !== "hubspot");

/** `nudge hubspot setup`, the real command, against the fleet's simulated portal. */
function hubspotSetup(f: Fleet): Promise<CommandRun> {
  const env = simulatorProviderEnv(f.sim.url);
  return runCommand(path.join(REPO_ROOT, "node_modules/.bin/nudge"), ["hubspot", "setup"], {
    HUBSPOT_ACCESS_TOKEN: env.HUBSPOT_ACCESS_TOKEN!,
    HUBSPOT_BASE_URL: f.sim.url,
    PROVIDER_TIMEOUT_MS: "5000",
  });
}

describe("a portal without Nudge's properties", () => {
  it("keeps the worker from taking jobs, naming the command; after `nudge hubspot setup` (twice) every reminder goes once", async () => {
    fleet = await startFleet({ skipHubSpotSetup: true });
    const seeded = await fleet.seedSmsReminders(3);
    const worker = await fleet.startWorker({}, { waitUntilReady: false });
    await worker.waitForLine(/worker not ready, taking no jobs: .*nudge hubspot setup/);
    await fleet.pass();
    // The worker says it is not ready: the jobs wait in Redis, untouched.
    expect(await fleet.queue.getJobCounts("wait", "active", "completed", "failed")).toEqual({ wait: 3, active: 0, completed: 0, failed: 0 });
    for (const { phone } of seeded) expect(messagesTo(fleet, phone)).toHaveLength(0);

    const first = await hubspotSetup(fleet);
    expect(first.code).toBe(0);
    const second = await hubspotSetup(fleet);
    expect([second.code, second.lines.at(-1)]).toEqual([0, expect.stringMatching(/nothing changed/)]);
    await worker.waitForLine(/"msg":"worker ready"/);
    const deliveries = await fleet.settled(3);
    expect(deliveries.map((d) => d.state)).toEqual(["sent", "sent", "sent"]);
    for (const { phone } of seeded) expect(messagesTo(fleet, phone)).toHaveLength(1);
  });
});

describe("finding or creating the contact", () => {
  it("no HubSpot id, a deleted id, and a phone-only contact: each found or created once under 4 workers, and reminded", async () => {
    fleet = await startFleet();
    const f = fleet;
    // HubSpot's search lags new records: a phone-only contact created by one worker is not found by the next.
    f.sim.configureHubSpot({ searchLagMs: 3_000 });
    const fresh = await createContact(f.db);
    const deletedInCrm = f.sim.seedCrmContact({ email: "someone-else@example.com" });
    f.sim.deleteCrmContact(deletedInCrm.id);
    const deleted = await createContact(f.db, { hubspotId: deletedInCrm.id });
    const phoneOnly = await createContact(f.db, { email: null });
    const contacts = [fresh, deleted, phoneOnly];
    // Three appointments each, all with their SMS step due: several jobs per contact at once, on 4 worker processes.
    for (const c of contacts) for (let i = 0; i < 3; i++) await createAppointment(f.db, c.id, { inMinutes: 90 + i });
    await Promise.all([1, 2, 3, 4].map(() => f.startWorker()));
    await f.pass();
    const deliveries = await f.settled(9, 60_000);
    expect(deliveries.map((d) => d.state)).toEqual(Array(9).fill("sent"));

    for (const c of contacts) {
      const inCrm = f.sim.crmContacts().filter((x) => x.properties.nudge_contact_id === String(c.id));
      expect([c.id, inCrm.length]).toEqual([c.id, 1]);
      const stored = await f.db.contact.findUniqueOrThrow({ where: { id: c.id } });
      expect(stored.hubspotId).toBe(inCrm[0]!.id);
      expect(messagesTo(f, c.phone!)).toHaveLength(3);
    }
    expect(f.sim.crmContact(deletedInCrm.id)).toBeUndefined();
  });
});

describe("rejections", () => {
  it("a contact HubSpot refuses (400) ends at once with the reason, while 100 other reminders go out", async () => {
    fleet = await startFleet();
    const f = fleet;
    const refused = await createContact(f.db, { email: "not-an-email" });
    await createAppointment(f.db, refused.id, { inMinutes: 600 }); // the email step is the one due
    const others = await f.seedSmsReminders(100);
    await Promise.all([1, 2].map(() => f.startWorker({ WORKER_CONCURRENCY: "10" })));
    await f.pass();
    const deliveries = await f.settled(101, 90_000);
    const bad = await f.db.delivery.findFirstOrThrow({ where: { contactId: refused.id } });
    expect(bad).toMatchObject({ state: "failed", attempts: 0, reason: expect.stringMatching(/rejected before sending: .*(INVALID_EMAIL|email)/i) });
    expect(deliveries.filter((d) => d.state === "sent")).toHaveLength(100);
    for (const { phone } of others) expect(messagesTo(f, phone)).toHaveLength(1);
    expect(f.sim.records({ provider: "sendgrid" })).toHaveLength(0);
  });

  it("a bad token (401) stops intake and reports not-ready without failing any job; fixed, everything goes once", async () => {
    fleet = await startFleet();
    const f = fleet;
    const worker = await f.startWorker();
    const goodToken = f.sim.configureHubSpot().accessToken;
    f.sim.configureHubSpot({ accessToken: "pat-revoked-elsewhere" });
    const seeded = await f.seedSmsReminders(5);
    await f.pass();
    await worker.waitForLine(/pausing intake|worker not ready/);
    const counts = await f.queue.getJobCounts("failed", "completed");
    expect(counts).toEqual({ failed: 0, completed: 0 });
    expect(await f.db.delivery.count({ where: { state: "failed" } })).toBe(0);
    for (const { phone } of seeded) expect(messagesTo(f, phone)).toHaveLength(0);

    f.sim.configureHubSpot({ accessToken: goodToken });
    const deliveries = await f.settled(5, 90_000);
    expect(deliveries.map((d) => d.state)).toEqual(Array(5).fill("sent"));
    for (const { phone } of seeded) expect(messagesTo(f, phone)).toHaveLength(1);
  }, 120_000);
});

describe("the rate limit", () => {
  it("5,000 reminders through 3 worker processes, the portal enforcing 190 requests per 10 s: no 429 after the first window, each sent once", async () => {
    fleet = await startFleet();
    const f = fleet;
    f.sim.configureHubSpot({ requestsPerTenSeconds: 190 });
    await seedSmsReminders(f, 5_000);
    // The fleet's 1 s provider timeout is for fault tests; a loaded 2-core machine needs the production one here.
    await Promise.all([1, 2, 3].map(() => f.startWorker({ WORKER_CONCURRENCY: "20", HUBSPOT_REQUESTS_PER_10S: "190", PROVIDER_TIMEOUT_MS: "10000" })));
    const started = Date.now();
    await f.pass();
    await eventually(
      "5,000 settled deliveries",
      async () => ((await f.db.delivery.count({ where: { state: { notIn: ["pending", "sending"] } } })) === 5_000 ? true : undefined),
      240_000,
    );
    const states = await f.db.delivery.groupBy({ by: ["state"], _count: true });
    expect(states.map((s) => [s.state, s._count])).toEqual([["sent", 5_000]]);
    const sms = f.sim.records({ provider: "twilio-sms" });
    expect(sms).toHaveLength(5_000);
    expect(new Set(sms.map((r) => r.to)).size).toBe(5_000);
    const usage = f.sim.hubSpotUsage();
    const late = usage.rateLimited.filter((r) => Date.parse(r.at) > started + 10_000);
    expect(late).toEqual([]);
    console.log(`rate limit: ${usage.requests} HubSpot requests for 5,000 reminders, ${usage.rateLimited.length} answered 429, ${Math.round((Date.now() - started) / 1000)} s`);
  }, 300_000);
});

/** `count` contacts not yet in HubSpot, each with one appointment whose SMS step is due: one INSERT per table. */
async function seedSmsReminders(f: Fleet, count: number): Promise<void> {
  await f.db.$executeRaw`
    INSERT INTO contacts (name, phone, email, timezone, updated_at)
    SELECT 'Load Person ' || i, '+1555' || lpad(i::text, 7, '0'), 'load' || i || '@example.com', 'UTC', now()
    FROM generate_series(1, ${count}::int) AS i`;
  await f.db.$executeRaw`
    INSERT INTO appointments (contact_id, starts_at, status, updated_at)
    SELECT id, date_trunc('second', now() + interval '90 minutes'), 'scheduled', now() FROM contacts WHERE name LIKE 'Load Person %'`;
}
