import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createDb, type Db } from "@nudge/db";
import { createContact, createTestDatabase, setDatabaseClock, type TestDatabase } from "@nudge/testing";
import { stringify } from "yaml";
import { CampaignInputError, enroll, loadCampaignFiles, migrateEnrollments, nextUndoneStep } from "../src";

let database: TestDatabase;
let db: Db;
let dir: string;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  dir = await mkdtemp(path.join(tmpdir(), "nudge-campaigns-"));
});
beforeEach(async () => {
  await db.$executeRaw`DELETE FROM nudge_test_clock`;
});
afterAll(async () => {
  await db.$disconnect();
  await database.drop();
  await rm(dir, { recursive: true, force: true });
});

type Step = { id: string; channel: string; template: string; delayHours: number; subject?: string; sendWindow?: object };
const sms = (id: string, delayHours = 1): Step => ({ id, channel: "sms", template: `Step ${id} for {{firstName}}`, delayHours });
const campaign = (id: string, version: number, steps: Step[], extra: object = {}) => ({ id, name: `Campaign ${id}`, version, steps, ...extra });

async function file(name: string, content: object | string): Promise<string> {
  const at = path.join(dir, name);
  await writeFile(at, typeof content === "string" ? content : stringify(content));
  return at;
}

async function rowCounts() {
  const [c] = await db.$queryRaw<{ campaigns: bigint; versions: bigint; steps: bigint; enrollments: bigint }[]>`
    SELECT (SELECT count(*) FROM campaigns) AS campaigns, (SELECT count(*) FROM campaign_versions) AS versions,
           (SELECT count(*) FROM campaign_steps) AS steps, (SELECT count(*) FROM enrollments) AS enrollments`;
  return { campaigns: Number(c!.campaigns), versions: Number(c!.versions), steps: Number(c!.steps), enrollments: Number(c!.enrollments) };
}

describe("loadCampaignFiles", () => {
  it("creates a version, leaves it alone when loaded again unchanged, and replaces it while nobody is enrolled", async () => {
    const v1 = await file("load-a.yaml", campaign("load-a", 1, [sms("one"), sms("two")]));
    expect(await loadCampaignFiles(db, [v1])).toEqual([{ path: v1, outcome: "created", campaignId: "load-a", version: 1 }]);
    // The same definition, keys in another order and as JSON: unchanged.
    const same = await file("load-a.json", JSON.stringify({ steps: [sms("one"), sms("two")], version: 1, name: "Campaign load-a", id: "load-a" }));
    expect((await loadCampaignFiles(db, [same]))[0]!.outcome).toBe("unchanged");

    const edited = await file("load-a.yaml", campaign("load-a", 1, [sms("one"), sms("two"), sms("three")]));
    expect((await loadCampaignFiles(db, [edited]))[0]!.outcome).toBe("replaced");
    const steps = await db.campaignStep.findMany({ where: { campaignId: "load-a", version: 1 }, orderBy: { position: "asc" } });
    expect(steps.map((s) => s.stepId)).toEqual(["one", "two", "three"]);
  });

  it("refuses to change a version a lead is enrolled in, and the database refuses it a second time", async () => {
    const contact = await createContact(db);
    await loadCampaignFiles(db, [await file("load-b.yaml", campaign("load-b", 1, [sms("one")]))]);
    await enroll(db, { contactId: contact.id, campaignId: "load-b" });
    const before = await rowCounts();

    const edited = await file("load-b.yaml", campaign("load-b", 1, [sms("one"), sms("two")]));
    const [report] = await loadCampaignFiles(db, [edited]);
    expect(report).toMatchObject({ outcome: "refused", campaignId: "load-b", version: 1 });
    expect(report!.reason).toMatch(/leads are enrolled in it, so it cannot change; give the edit version 2/);
    expect(await rowCounts()).toEqual(before);
    await expect(db.$executeRaw`UPDATE campaign_steps SET template = 'changed' WHERE campaign_id = 'load-b'`).rejects.toThrow(
      /has enrollments and cannot change/,
    );
    // Loading the unchanged file again is fine.
    expect((await loadCampaignFiles(db, [await file("load-b.yaml", campaign("load-b", 1, [sms("one")]))]))[0]!.outcome).toBe("unchanged");
  });

  it("reports each file on its own: one refused file does not stop the others", async () => {
    const bad = await file("bad.yaml", "id: load-c\nname: C\nversion: 1\nsteps:\n  - id: one\n    channel: fax\n    template: hi\n    delayHours: 1\n");
    const good = await file("load-d.yaml", campaign("load-d", 1, [sms("one")]));
    const reports = await loadCampaignFiles(db, [bad, good]);
    expect(reports[0]).toMatchObject({ path: bad, outcome: "refused" });
    expect(reports[0]!.reason).toContain('steps[0].channel: unknown channel "fax"; expected one of sms, email');
    expect(reports[1]).toMatchObject({ outcome: "created", campaignId: "load-d" });
    expect(await db.campaign.findUnique({ where: { id: "load-c" } })).toBeNull();
  });
});

describe("bad input (acceptance 6): rejected with the field named, nothing written", () => {
  const cases: [string, Step, string][] = [
    ["a variable the contact cannot have", { ...sms("one"), template: "Hi {{company}}" }, 'steps[0].template: step "one" uses the variable {{company}}, which a contact cannot have'],
    ["a negative delay", sms("one", -2), "steps[0].delayHours: expected a number >= 0"],
    ["an unknown channel", { ...sms("one"), channel: "pigeon" }, 'steps[0].channel: unknown channel "pigeon"; expected one of sms, email'],
    ["an empty send window", { ...sms("one"), sendWindow: { start: "10:00", end: "10:00" } }, "steps[0].sendWindow: empty send window"],
  ];
  it.each(cases)("%s", async (_, step, message) => {
    const before = await rowCounts();
    const [report] = await loadCampaignFiles(db, [await file("bad-input.yaml", campaign("bad-input", 1, [step]))]);
    expect(report!.outcome).toBe("refused");
    expect(report!.reason).toContain(message);
    expect(await rowCounts()).toEqual(before);
  });

  it("enrolling an unknown contact, or in an unknown campaign", async () => {
    await loadCampaignFiles(db, [await file("bad-enroll.yaml", campaign("bad-enroll", 1, [sms("one")]))]);
    const contact = await createContact(db);
    const before = await rowCounts();
    await expect(enroll(db, { contactId: 987_654, campaignId: "bad-enroll" })).rejects.toThrow(
      new CampaignInputError("contactId", "contact 987654 does not exist; create the contact first"),
    );
    await expect(enroll(db, { contactId: contact.id, campaignId: "no-such" })).rejects.toThrow(/^campaignId: campaign "no-such" is not loaded/);
    expect(await rowCounts()).toEqual(before);
  });
});

describe("enroll", () => {
  it("puts the first step's due time on the database's clock, in the contact's zone and the step's window", async () => {
    const steps = [{ ...sms("hello", 2), sendWindow: { start: "09:00", end: "17:00" } }, sms("later", 24)];
    await loadCampaignFiles(db, [await file("enroll-a.yaml", campaign("enroll-a", 1, steps, { timezoneFallback: "Europe/Berlin" }))]);
    // 2026-03-07 20:00 EST on the database's clock; +2 h = 22:00 EST, outside the window: Sunday 09:00 EDT (after the spring forward).
    await setDatabaseClock(db, new Date("2026-03-08T01:00:00Z"));
    const ny = await createContact(db, { timezone: "America/New_York" });
    const { enrollment, created } = await enroll(db, { contactId: ny.id, campaignId: "enroll-a" });
    expect(created).toBe(true);
    expect(enrollment).toMatchObject({ version: 1, round: 1, position: 0, doneStepIds: [], state: "active", stopReason: null });
    expect(enrollment.nextDueAt!.toISOString()).toBe("2026-03-08T13:00:00.000Z");
    expect(Math.abs(enrollment.enrolledAt.getTime() - new Date("2026-03-08T01:00:00Z").getTime())).toBeLessThan(60_000);

    // An invalid zone: the campaign's fallback (Berlin, 09:00 CET = 08:00Z).
    const lost = await createContact(db, { timezone: "Not/AZone" });
    expect((await enroll(db, { contactId: lost.id, campaignId: "enroll-a" })).enrollment.nextDueAt!.toISOString()).toBe("2026-03-08T08:00:00.000Z");
  });

  it("is idempotent per lead, campaign and round; a new round only when asked and the last one has ended", async () => {
    await loadCampaignFiles(db, [await file("enroll-b.yaml", campaign("enroll-b", 1, [sms("one")]))]);
    const contact = await createContact(db);
    const first = await enroll(db, { contactId: contact.id, campaignId: "enroll-b" });
    const again = await Promise.all([1, 2, 3].map(() => enroll(db, { contactId: contact.id, campaignId: "enroll-b" })));
    expect(again.map((r) => [r.created, r.enrollment.id])).toEqual([1, 2, 3].map(() => [false, first.enrollment.id]));
    // Re-enrolment while round 1 is active returns round 1.
    expect(await enroll(db, { contactId: contact.id, campaignId: "enroll-b", reenroll: true })).toMatchObject({ created: false, enrollment: { round: 1 } });

    await db.enrollment.update({ where: { id: first.enrollment.id }, data: { state: "completed", nextDueAt: null, position: 1 } });
    expect((await enroll(db, { contactId: contact.id, campaignId: "enroll-b" })).created).toBe(false);
    const rounds = await Promise.all([1, 2].map(() => enroll(db, { contactId: contact.id, campaignId: "enroll-b", reenroll: true })));
    expect(rounds.map((r) => r.enrollment.round)).toEqual([2, 2]);
    expect(rounds.filter((r) => r.created)).toHaveLength(1);
    expect(await db.enrollment.count({ where: { contactId: contact.id, campaignId: "enroll-b" } })).toBe(2);
  });

  it("uses the latest version", async () => {
    await loadCampaignFiles(db, [
      await file("enroll-c1.yaml", campaign("enroll-c", 1, [sms("one")])),
      await file("enroll-c2.yaml", campaign("enroll-c", 2, [sms("zero", 0), sms("one")])),
    ]);
    const { enrollment } = await enroll(db, { contactId: (await createContact(db)).id, campaignId: "enroll-c" });
    expect(enrollment.version).toBe(2);
  });
});

describe("migrateEnrollments (acceptance 4 in miniature)", () => {
  const V1 = ["s1", "s2", "s3", "s4", "s5"];
  // s6 inserted, s3 removed, s2 and s4 swapped.
  const V2 = ["s1", "s4", "s6", "s2", "s5"];
  const HOUR = 3_600_000;

  /** Plays the drip processor's part: marks the step at `position` sent and advances past it. */
  async function advance(id: number, steps: string[]): Promise<string> {
    const e = (await db.enrollment.findUniqueOrThrow({ where: { id } }))!;
    const sent = steps[e.position]!;
    const done = [...e.doneStepIds, sent];
    const next = nextUndoneStep(steps, e.position + 1, done);
    const at = new Date(e.nextDueAt!.getTime());
    await db.enrollment.update({
      where: { id },
      data: { doneStepIds: done, position: next, lastStepAt: at, ...(next < steps.length ? { nextDueAt: new Date(at.getTime() + HOUR) } : { nextDueAt: null, state: "completed" }) },
    });
    return sent;
  }

  it("moves 10 enrollments at various positions so that no step is sent twice, a removed step never, an inserted one only ahead of the lead", async () => {
    await loadCampaignFiles(db, [await file("drip-v1.yaml", campaign("drip", 1, V1.map((s) => sms(s))))]);
    const positions = [0, 0, 1, 1, 2, 2, 3, 3, 4, 5];
    const sentBefore = new Map<number, string[]>();
    for (const position of positions) {
      const { enrollment } = await enroll(db, { contactId: (await createContact(db)).id, campaignId: "drip" });
      const sent: string[] = [];
      for (let i = 0; i < position; i++) sent.push(await advance(enrollment.id, V1));
      sentBefore.set(enrollment.id, sent);
    }

    await loadCampaignFiles(db, [await file("drip-v2.yaml", campaign("drip", 2, V2.map((s) => sms(s))))]);
    expect(await migrateEnrollments(db, "drip", 2, { pageSize: 3 })).toEqual({ campaignId: "drip", toVersion: 2, moved: 9, completed: 0 });
    // A second run finds nothing to move.
    expect(await migrateEnrollments(db, "drip", 2)).toMatchObject({ moved: 0, completed: 0 });

    const after = new Map<number, string[]>();
    for (const id of sentBefore.keys()) {
      const sent: string[] = [];
      for (let e = await db.enrollment.findUniqueOrThrow({ where: { id } }); e.state === "active"; e = await db.enrollment.findUniqueOrThrow({ where: { id } })) {
        expect(e.version).toBe(2);
        sent.push(await advance(id, V2));
      }
      after.set(id, sent);
    }

    const expectedAfter: Record<number, string[]> = {
      0: ["s1", "s4", "s6", "s2", "s5"],
      1: ["s4", "s6", "s2", "s5"], // waiting for s2: s4 now comes first, then the inserted s6
      2: ["s4", "s6", "s5"], // s3 removed; s2 already sent, not again
      3: ["s4", "s6", "s5"],
      4: ["s5"], // s6 was inserted before the lead's position: not sent retroactively
      5: [], // had finished: stays completed on version 1
    };
    [...sentBefore.entries()].forEach(([id, before], i) => {
      const all = [...before, ...after.get(id)!];
      expect(after.get(id)).toEqual(expectedAfter[positions[i]!]);
      expect(new Set(all).size).toBe(all.length); // no step twice
      expect(after.get(id)).not.toContain("s3");
    });
    const finished = await db.enrollment.findFirstOrThrow({ where: { campaignId: "drip", version: 1 } });
    expect(finished.state).toBe("completed");
  });

  it("keeps the due time of a step the lead was already waiting for, and recomputes it for a new next step", async () => {
    await loadCampaignFiles(db, [await file("due-v1.yaml", campaign("due", 1, [sms("a"), sms("b", 5), sms("c", 7)]))]);
    const waitingB = (await enroll(db, { contactId: (await createContact(db)).id, campaignId: "due" })).enrollment;
    const last = new Date("2026-06-01T10:00:00Z");
    await db.enrollment.update({ where: { id: waitingB.id }, data: { position: 1, doneStepIds: ["a"], lastStepAt: last, nextDueAt: new Date("2026-06-01T15:00:00Z") } });
    const waitingC = (await enroll(db, { contactId: (await createContact(db)).id, campaignId: "due" })).enrollment;
    await db.enrollment.update({ where: { id: waitingC.id }, data: { position: 2, doneStepIds: ["a", "b"], lastStepAt: last, nextDueAt: new Date("2026-06-01T17:00:00Z") } });

    // v2: b removed, so the lead waiting for b now waits for c, due c's delay (7 h) after its last step.
    await loadCampaignFiles(db, [await file("due-v2.yaml", campaign("due", 2, [sms("a"), sms("c", 7)]))]);
    await migrateEnrollments(db, "due", 2);
    expect(await db.enrollment.findUniqueOrThrow({ where: { id: waitingB.id } })).toMatchObject({ version: 2, position: 1, nextDueAt: new Date("2026-06-01T17:00:00Z") });
    expect(await db.enrollment.findUniqueOrThrow({ where: { id: waitingC.id } })).toMatchObject({ version: 2, position: 1, nextDueAt: new Date("2026-06-01T17:00:00Z") });
  });

  it("completes an enrollment with nothing left in the new version, and names a missing version", async () => {
    await loadCampaignFiles(db, [await file("end-v1.yaml", campaign("end", 1, [sms("a"), sms("b")]))]);
    const e = (await enroll(db, { contactId: (await createContact(db)).id, campaignId: "end" })).enrollment;
    await db.enrollment.update({ where: { id: e.id }, data: { position: 1, doneStepIds: ["a"] } });
    await loadCampaignFiles(db, [await file("end-v2.yaml", campaign("end", 2, [sms("a")]))]);
    await expect(migrateEnrollments(db, "end", 3)).rejects.toThrow(/^toVersion: campaign "end" has no version 3/);
    expect(await migrateEnrollments(db, "end")).toMatchObject({ toVersion: 2, moved: 0, completed: 1 });
    expect(await db.enrollment.findUniqueOrThrow({ where: { id: e.id } })).toMatchObject({ state: "completed", nextDueAt: null, position: 1 });
  });
});
