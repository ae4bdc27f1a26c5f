import {
  type CampaignDefinition,
  enroll,
  loadCampaignDefinition,
  migrateEnrollments,
  stopEnrollments,
  validateCampaign,
} from "@nudge/campaigns";
import { dripKey } from "@nudge/core";
import { createDb, type Db, DeliveryLedger } from "@nudge/db";
import { createCrmGateway } from "@nudge/providers";
import type { Failpoint } from "@nudge/send-guard";
import { simulatorProviderEnv, SIMULATOR_TWILIO_AUTH_TOKEN, startSimulator, type Simulator } from "@nudge/simulator";
import { advanceDatabaseClock, createContact, createTestDatabase, databaseNow, setDatabaseClock, type TestDatabase } from "@nudge/testing";
import { UnrecoverableError } from "bullmq";
import { type DripOutcome, DripStepNotDue, processDripStep } from "../src/drip.processor";
import { guardOnSimulator } from "./guard-on-simulator";

/**
 * The drip processor in this process, on a real database and the provider simulator through the real SDKs, so that
 * a test can hold the guard at a named point while a stop or a migration commits. What was sent is read from the
 * simulator's record.
 */
let database: TestDatabase;
let db: Db;
let sim: Simulator;
/** The failpoint the guard calls: a test sets `hold` to pause at one point (once) until it releases. */
let hold: { at: Failpoint; reached: () => void; release: Promise<void> } | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  sim = await startSimulator({ port: 0, twilioAuthToken: SIMULATOR_TWILIO_AUTH_TOKEN });
  await createCrmGateway({ accessToken: simulatorProviderEnv(sim.url).HUBSPOT_ACCESS_TOKEN!, baseUrl: sim.url, timeoutMs: 5_000 }).setup();
});
afterAll(async () => {
  await sim.close();
  await db.$disconnect();
  await database.drop();
});

function deps() {
  const env = simulatorProviderEnv(sim.url);
  const guard = guardOnSimulator(db, sim, {
    failpoint: async (name) => {
      if (!hold || hold.at !== name) return;
      const { reached, release } = hold;
      hold = undefined;
      reached();
      await release;
    },
  });
  const crm = createCrmGateway({ accessToken: env.HUBSPOT_ACCESS_TOKEN!, baseUrl: sim.url, timeoutMs: 5_000 });
  return { db, guard, crm };
}

/** Arms the failpoint; resolves `reached` when the guard gets there, and lets it go on when `release()` is called. */
function holdAt(at: Failpoint): { reached: Promise<void>; release: () => void } {
  let release!: () => void;
  let reached!: () => void;
  const reachedPromise = new Promise<void>((r) => (reached = r));
  hold = { at, reached, release: new Promise<void>((r) => (release = r)) };
  return { reached: reachedPromise, release };
}

function campaign(id: string, version: number, steps: Array<[string, "sms" | "email"]>): CampaignDefinition {
  return validateCampaign({
    id,
    name: `Campaign ${id}`,
    version,
    stalenessHours: 24,
    steps: steps.map(([stepId, channel]) => ({
      id: stepId,
      channel,
      delayHours: 0,
      template: `[${stepId}] for {{name}}`,
      ...(channel === "email" && { subject: `[${stepId}] for {{name}}` }),
    })),
  });
}

async function load(definition: CampaignDefinition): Promise<void> {
  const { outcome, reason } = await loadCampaignDefinition(db, definition);
  if (outcome === "refused") throw new Error(reason);
}

let leads = 0;
async function lead(campaignId: string): Promise<{ name: string; contactId: number; enrollmentId: number }> {
  leads++;
  const name = `Lead ${String(leads).padStart(4, "0")}`;
  const contact = await createContact(db, { name, email: `drip-lead${leads}@example.com` });
  const { enrollment } = await enroll(db, { contactId: contact.id, campaignId });
  return { name, contactId: contact.id, enrollmentId: enrollment.id };
}

/** Runs the processor for the enrollment's current step, as a drip job would; undefined when it has none. */
async function runCurrentStep(enrollmentId: number, d = deps()): Promise<DripOutcome | undefined> {
  const e = await db.enrollment.findUniqueOrThrow({ where: { id: enrollmentId } });
  if (e.state !== "active") return undefined;
  const step = await db.campaignStep.findFirstOrThrow({ where: { campaignId: e.campaignId, version: e.version, position: e.position } });
  return runStep(enrollmentId, step.stepId, d);
}

function runStep(enrollmentId: number, stepId: string, d = deps()): Promise<DripOutcome> {
  return processDripStep({ key: dripKey({ enrollmentId, stepId }), enrollmentId, stepId }, d);
}

/** The step ids the simulator accepted for this lead, in order. */
function sentTo(name: string): string[] {
  return sim
    .records()
    .filter((r) => r.provider !== "hubspot")
    .flatMap((r) => {
      const m = /\[([a-z0-9-]+)\] for (Lead \d+)/.exec(`${r.subject ?? ""} ${r.body}`);
      return m && m[2] === name ? [m[1]!] : [];
    });
}

describe("a reply stops the campaign; stop wins over any step not yet claimed", () => {
  beforeAll(() => load(campaign("reply", 1, [["s1", "sms"], ["s2", "sms"], ["s3", "sms"], ["s4", "sms"]])));

  test("a reply between step 2 and step 3: nothing more", async () => {
    const l = await lead("reply");
    expect((await runCurrentStep(l.enrollmentId))?.state).toBe("sent");
    expect((await runCurrentStep(l.enrollmentId))?.state).toBe("sent");
    const stop = await stopEnrollments(db, { contactIds: [l.contactId] }, "replied by SMS");
    expect(stop).toEqual({ stopped: [l.enrollmentId], cancelled: [], inFlight: [] });
    expect(await runStep(l.enrollmentId, "s3")).toEqual({ state: "not-wanted", reason: "enrollment stopped: replied by SMS" });
    expect(sentTo(l.name)).toEqual(["s1", "s2"]);
  });

  test("a reply committed while step 3 waits just before its claim: no step 3", async () => {
    const l = await lead("reply");
    await runCurrentStep(l.enrollmentId);
    await runCurrentStep(l.enrollmentId);
    const held = holdAt("before-claim");
    const step3 = runStep(l.enrollmentId, "s3");
    await held.reached; // the enrollment has advanced and step 3's delivery exists, unclaimed
    const s3 = await new DeliveryLedger(db).byKey(dripKey({ enrollmentId: l.enrollmentId, stepId: "s3" }));
    expect(s3?.state).toBe("pending");
    const stop = await stopEnrollments(db, { contactIds: [l.contactId] }, "replied by SMS");
    expect(stop).toEqual({ stopped: [l.enrollmentId], cancelled: [s3!.id], inFlight: [] });
    held.release();
    expect(await step3).toMatchObject({ state: "cancelled" });
    expect(await runStep(l.enrollmentId, "s4")).toMatchObject({ state: "not-wanted" });
    expect(sentTo(l.name)).toEqual(["s1", "s2"]);
  });

  test("a reply committed after step 3 was claimed: reported as one message in flight, and no step 4", async () => {
    const l = await lead("reply");
    await runCurrentStep(l.enrollmentId);
    await runCurrentStep(l.enrollmentId);
    const held = holdAt("after-claim");
    const step3 = runStep(l.enrollmentId, "s3");
    await held.reached;
    const s3 = await new DeliveryLedger(db).byKey(dripKey({ enrollmentId: l.enrollmentId, stepId: "s3" }));
    const stop = await stopEnrollments(db, { contactIds: [l.contactId] }, "replied by SMS");
    expect(stop).toEqual({ stopped: [l.enrollmentId], cancelled: [], inFlight: [s3!.id] });
    held.release();
    expect(await step3).toMatchObject({ state: "sent" });
    // Step 3 settled: the settle hook leaves a stopped enrollment stopped, with nothing due.
    const after = await db.enrollment.findUniqueOrThrow({ where: { id: l.enrollmentId } });
    expect(after).toMatchObject({ state: "stopped", nextDueAt: null, awaitingKey: null });
    expect(await runStep(l.enrollmentId, "s4")).toMatchObject({ state: "not-wanted" });
    expect(sentTo(l.name)).toEqual(["s1", "s2", "s3"]);
  });

  test("the race, many times: whichever commits first, at most the claimed step goes out and nothing after it", async () => {
    for (let i = 0; i < 20; i++) {
      const l = await lead("reply");
      await runCurrentStep(l.enrollmentId);
      await runCurrentStep(l.enrollmentId);
      const [outcome, stop] = await Promise.all([runStep(l.enrollmentId, "s3"), stopEnrollments(db, { contactIds: [l.contactId] }, "replied")]);
      await runStep(l.enrollmentId, "s4");
      const sent = sentTo(l.name);
      if (outcome.state === "sent") {
        expect(sent).toEqual(["s1", "s2", "s3"]);
      } else {
        expect(sent).toEqual(["s1", "s2"]);
        expect(stop.inFlight).toEqual([]);
      }
    }
  });
});

describe("a campaign edited while leads are mid-way, then migrated", () => {
  test("100 enrollments: a step inserted, one removed, two reordered; no step twice, none removed, none retroactive", async () => {
    // v1: a b c d e. v2: a x c e d (x inserted before most leads' place, b removed, d and e swapped).
    await load(campaign("edit", 1, [["a", "sms"], ["b", "email"], ["c", "sms"], ["d", "email"], ["e", "sms"]]));
    const all: Array<{ name: string; enrollmentId: number; done: number }> = [];
    for (let i = 0; i < 100; i++) {
      const l = await lead("edit");
      const done = i % 4; // 0 to 3 steps sent before the edit
      for (let k = 0; k < done; k++) expect((await runCurrentStep(l.enrollmentId))?.state).toBe("sent");
      all.push({ ...l, done });
    }
    await load(campaign("edit", 2, [["a", "sms"], ["x", "email"], ["c", "sms"], ["e", "sms"], ["d", "email"]]));
    const report = await migrateEnrollments(db, "edit");
    expect(report.moved).toBe(100);

    const d = deps();
    for (const l of all) while ((await runCurrentStep(l.enrollmentId, d)) !== undefined);

    // The rule, worked out per place: nothing sent: all of v2; after a: what v2 keeps of the owed steps (c e d), not
    // x (inserted before the lead's place); after a b or a b c: c, e, d, each once.
    const expected: Record<number, string[]> = {
      0: ["a", "x", "c", "e", "d"],
      1: ["a", "c", "e", "d"],
      2: ["a", "b", "c", "e", "d"],
      3: ["a", "b", "c", "e", "d"],
    };
    for (const l of all) expect([l.name, l.done, sentTo(l.name)]).toEqual([l.name, l.done, expected[l.done]]);
    expect(await db.enrollment.count({ where: { campaignId: "edit", state: { not: "completed" } } })).toBe(0);
  });
});

describe("staleness, send windows, isolation and the lifecycle stage", () => {
  afterEach(async () => {
    await db.$executeRaw`DELETE FROM nudge_test_clock`;
  });

  test("a step that could not go out within the staleness limit is skipped, not sent late, and the next one follows", async () => {
    await load(validateCampaign({
      id: "stale",
      name: "Stale",
      version: 1,
      stalenessHours: 2,
      steps: [
        { id: "late", channel: "sms", delayHours: 0, template: "[late] for {{name}}" },
        { id: "next", channel: "sms", delayHours: 0, template: "[next] for {{name}}" },
      ],
    }));
    const l = await lead("stale");
    await advanceDatabaseClock(db, 3 * 3_600_000); // the worker was down three hours
    expect(await runStep(l.enrollmentId, "late")).toMatchObject({ state: "skipped", reason: expect.stringMatching(/^past its deadline/) });
    expect(await runCurrentStep(l.enrollmentId)).toMatchObject({ state: "sent" });
    expect(sentTo(l.name)).toEqual(["next"]);
  });

  test("a step whose send window is closed waits for it: the job is retried when it opens, nothing is created", async () => {
    await load(validateCampaign({
      id: "window",
      name: "Window",
      version: 1,
      steps: [{ id: "w", channel: "sms", delayHours: 0, template: "[w] for {{name}}", sendWindow: { start: "09:00", end: "10:00" } }],
    }));
    const l = await lead("window");
    // Enrolled inside or outside the window: either way the enrollment's due time is in it. Move the clock to 11:00
    // UTC the same day after the due time, then pull the due time back to now, as a late settle would.
    const now = await databaseNowOf();
    const elevenUtc = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1, 11));
    await setDatabaseClock(db, elevenUtc);
    await db.$executeRaw`UPDATE enrollments SET next_due_at = nudge_now() WHERE id = ${l.enrollmentId}`;
    const error = await runStep(l.enrollmentId, "w").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DripStepNotDue);
    const notDue = error as DripStepNotDue;
    expect(notDue.notBefore.toISOString()).toBe(new Date(elevenUtc.getTime() + 22 * 3_600_000).toISOString()); // 09:00 next day
    expect(notDue.retryAfterMs).toBeGreaterThan(21 * 3_600_000);
    expect(await db.delivery.count({ where: { sourceType: "enrollment", sourceId: l.enrollmentId } })).toBe(0);
  });

  test("a lead whose message cannot be rendered is stopped with the reason and fails alone; the next lead goes on", async () => {
    await load(validateCampaign({
      id: "render",
      name: "Render",
      version: 1,
      steps: [{ id: "r", channel: "email", subject: "Hi", delayHours: 0, template: "[r] for {{name}}, we will call {{phone}}" }],
    }));
    leads++;
    const noPhone = await createContact(db, { name: `Lead ${String(leads).padStart(4, "0")}`, phone: null, email: `drip-lead${leads}@example.com` });
    const { enrollment } = await enroll(db, { contactId: noPhone.id, campaignId: "render" });
    const other = await lead("render");
    const error = await runStep(enrollment.id, "r").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect((error as Error).message).toMatch(/template variable \{\{phone\}\} has no value for this contact/);
    expect(await db.enrollment.findUniqueOrThrow({ where: { id: enrollment.id } })).toMatchObject({
      state: "stopped",
      stopReason: expect.stringMatching(/^step r cannot be rendered for contact \d+: /),
    });
    expect(await runStep(other.enrollmentId, "r")).toMatchObject({ state: "sent" });
  });

  test("a lead whose HubSpot lifecycle stage sales moved past the configured one gets no further step", async () => {
    await load(campaign("stage", 1, [["one", "email"], ["two", "email"]]));
    const l = await lead("stage");
    const d = { ...deps(), stopAtLifecycleStage: "salesqualifiedlead" };
    expect(await runCurrentStep(l.enrollmentId, d)).toMatchObject({ state: "sent" });
    fakeSalesMovesLead(l.contactId, "opportunity");
    expect(await runCurrentStep(l.enrollmentId, d)).toMatchObject({ state: "not-wanted", reason: "enrollment stopped: HubSpot lifecycle stage is opportunity, past salesqualifiedlead" });
    expect(sentTo(l.name)).toEqual(["one"]);
  });
});

async function databaseNowOf(): Promise<Date> {
  return databaseNow(db);
}

/** What sales does in HubSpot's UI: the contact's lifecycle stage moves on. */
function fakeSalesMovesLead(contactId: number, stage: string): void {
  const contact = sim.crmContacts().find((c) => c.properties.nudge_contact_id === String(contactId));
  if (!contact) throw new Error(`no HubSpot contact for contact ${contactId}`);
  sim.setCrmContactProperty(contact.id, "lifecyclestage", stage);
}
