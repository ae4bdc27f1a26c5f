import { CrmPortalError, NotAcceptedError, PermanentProviderError, type CrmContactRef, type RequestLimiter } from "@nudge/core";
import { SIMULATOR_HUBSPOT_TOKEN, startSimulator, type Simulator } from "@nudge/simulator";
import { HubSpotCrm, HubSpotRateLimitError, NUDGE_PROPERTIES, type HubSpotConfig } from "../src";

const STEP = { nudge_next_appointment_at: "2026-11-24T09:00:00.000Z", nudge_last_reminder_step: "2", nudge_last_reminder_channel: "sms" };
const NUDGE_NAMES = NUDGE_PROPERTIES.map((p) => p.name);

const ref = (contactId: number, fields: Partial<CrmContactRef> = {}): CrmContactRef => ({
  contactId,
  crmId: null,
  name: "Ada Lovelace",
  email: `ada${contactId}@example.com`,
  phone: null,
  ...fields,
});

describe("HubSpotCrm against the simulated portal, through the real SDK", () => {
  let sim: Simulator;
  const gateway = (overrides: Partial<HubSpotConfig> = {}) =>
    new HubSpotCrm({ accessToken: SIMULATOR_HUBSPOT_TOKEN, baseUrl: sim.url, timeoutMs: 2_000, batchWindowMs: 5, ...overrides });
  const contacts = () => sim.crmContacts();
  const requests = () => sim.hubSpotUsage().requests;

  beforeEach(async () => {
    sim = await startSimulator();
  });
  afterEach(async () => {
    await sim.close();
  });

  describe("setup", () => {
    test("creates the group and every property once; a second run changes nothing and says so", async () => {
      const first = await gateway().setup();
      expect(first).toEqual({
        changed: true,
        ok: true,
        items: [{ kind: "group", name: "nudge", outcome: "created" }, ...NUDGE_NAMES.map((name) => ({ kind: "property", name, outcome: "created" }))],
      });
      const created = sim.records({ provider: "hubspot" }).length;
      const second = await gateway().setup();
      expect(second).toEqual({ changed: false, ok: true, items: first.items.map((i) => ({ ...i, outcome: "exists" })) });
      expect(sim.records({ provider: "hubspot" })).toHaveLength(created);
      const property = await fetch(`${sim.url}/crm/v3/properties/contacts/nudge_contact_id`, { headers: { Authorization: `Bearer ${SIMULATOR_HUBSPOT_TOKEN}` } });
      expect(await property.json()).toMatchObject({ type: "number", hasUniqueValue: true, groupName: "nudge" });
    });

    test("a property that exists with another type is reported, not overwritten; the others are created", async () => {
      await fetch(`${sim.url}/crm/v3/properties/contacts`, {
        method: "POST",
        headers: { Authorization: `Bearer ${SIMULATOR_HUBSPOT_TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify({ name: "nudge_last_reminder_step", label: "Step", type: "string", fieldType: "text", groupName: "contactinformation" }),
      });
      const report = await gateway().setup();
      expect(report.ok).toBe(false);
      expect(report.changed).toBe(true);
      expect(report.items.find((i) => i.name === "nudge_last_reminder_step")).toEqual({
        kind: "property",
        name: "nudge_last_reminder_step",
        outcome: "conflict",
        detail: "is of type string, Nudge writes number",
      });
      expect(report.items.filter((i) => i.outcome === "created")).toHaveLength(NUDGE_NAMES.length); // the group and every other property
      const ready = await gateway().checkReady();
      expect(ready).toEqual({ ready: false, reason: expect.stringMatching(/nudge_last_reminder_step is of type string.*nudge hubspot setup/) });
    });
  });

  describe("checkReady", () => {
    test("not ready before setup, naming the properties and the command; ready after, in one request", async () => {
      const before = await gateway().checkReady();
      expect(before).toEqual({ ready: false, reason: expect.stringContaining("run `nudge hubspot setup`") });
      expect((before as { reason: string }).reason).toContain(NUDGE_NAMES.join(", "));
      await gateway().setup();
      const asked = requests();
      expect(await gateway().checkReady()).toEqual({ ready: true });
      expect(requests() - asked).toBe(1);
    });

    test("a bad token or a missing scope: not ready, naming the fix", async () => {
      await gateway().setup();
      expect(await gateway({ accessToken: "pat-wrong-token" }).checkReady()).toEqual({ ready: false, reason: expect.stringMatching(/access token.*HUBSPOT_ACCESS_TOKEN/) });
      sim.configureHubSpot({ missingScopes: ["crm.schemas.contacts.read"] });
      expect(await gateway().checkReady()).toEqual({ ready: false, reason: expect.stringMatching(/lacks crm\.schemas\.contacts\.read.*grant the app/) });
    });

    test("a write refused for a scope the check does not use keeps it not ready for a while", async () => {
      const crm = gateway();
      await crm.setup();
      sim.configureHubSpot({ missingScopes: ["crm.objects.contacts.write"] });
      const err = await crm.upsertContact(ref(1), STEP).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CrmPortalError);
      expect((err as Error).message).toMatch(/lacks crm\.objects\.contacts\.write/);
      expect(await crm.checkReady()).toEqual({ ready: false, reason: (err as Error).message });
    });

    test("an outage is not ready, never a throw", async () => {
      sim.injectFault({ kind: "500", provider: "hubspot" });
      expect(await gateway().checkReady()).toEqual({ ready: false, reason: expect.stringMatching(/^HubSpot could not be checked: .*500/) });
    });
  });

  describe("finding or creating the contact", () => {
    beforeEach(async () => {
      await gateway().setup();
      sim.clearRecords();
    });

    test("by the stored id: Nudge's properties only, nudge_contact_id included, in one request", async () => {
      const { id } = sim.seedCrmContact({ email: "ada1@example.com", firstname: "Augusta" });
      const asked = requests();
      expect(await gateway().upsertContact(ref(1, { crmId: id }), STEP)).toBe(id);
      expect(requests() - asked).toBe(1);
      expect(sim.crmContact(id)!.properties).toMatchObject({ ...STEP, nudge_contact_id: "1", firstname: "Augusta" });
      expect(sim.records({ provider: "hubspot" }).map((r) => r.properties)).toEqual([{ ...STEP, nudge_contact_id: "1" }]);
    });

    test("a stored id that answers 404 (deleted) falls back to the email, and the new id is returned", async () => {
      const { id: old } = sim.seedCrmContact({ email: "someone@example.com" });
      sim.deleteCrmContact(old);
      const id = await gateway().upsertContact(ref(2, { crmId: old }), STEP);
      expect(id).not.toBe(old);
      expect(contacts()).toEqual([expect.objectContaining({ id, properties: expect.objectContaining({ email: "ada2@example.com", firstname: "Ada", lastname: "Lovelace", nudge_contact_id: "2", ...STEP }) })]);
    });

    test("a merged-away id falls back to the email, which finds the contact it was merged into", async () => {
      const primary = sim.seedCrmContact({ email: "primary@example.com" });
      const merged = sim.seedCrmContact({ email: "ada3@example.com" });
      sim.mergeCrmContacts(primary.id, merged.id);
      expect(await gateway().upsertContact(ref(3, { crmId: merged.id }), STEP)).toBe(primary.id);
      expect(contacts()).toHaveLength(1);
    });

    test("by email: an existing contact is found (whatever the case), a new one created, each in one request", async () => {
      const existing = sim.seedCrmContact({ email: "ada4@example.com", firstname: "Ada" });
      const crm = gateway();
      let asked = requests();
      expect(await crm.upsertContact(ref(4, { email: "ADA4@example.com" }), STEP)).toBe(existing.id);
      expect(requests() - asked).toBe(1);
      asked = requests();
      const created = await crm.upsertContact(ref(5), STEP);
      expect(requests() - asked).toBe(1);
      expect(contacts().map((c) => c.id).sort()).toEqual([existing.id, created].sort());
    });

    test("by phone: a contact found by search is updated by its id", async () => {
      const existing = sim.seedCrmContact({ phone: "+15550100006", firstname: "Grace" });
      const id = await gateway().upsertContact(ref(6, { email: null, phone: "+15550100006", name: "Grace Hopper" }), STEP);
      expect(id).toBe(existing.id);
      expect(sim.crmContact(id)!.properties).toMatchObject({ nudge_contact_id: "6", lastname: "Hopper", ...STEP });
    });

    test("by phone, not found: created on nudge_contact_id, so that searches that lag still make one contact under 4 workers", async () => {
      sim.configureHubSpot({ searchLagMs: 60_000 });
      const workers = [gateway(), gateway(), gateway(), gateway()];
      const ids = await Promise.all(workers.map((crm) => crm.upsertContact(ref(7, { email: null, phone: "+15550100007" }), STEP)));
      expect(new Set(ids).size).toBe(1);
      expect(contacts()).toEqual([expect.objectContaining({ id: ids[0], properties: expect.objectContaining({ phone: "+15550100007", nudge_contact_id: "7" }) })]);
      // A later job that lost the stored id, while search still lags: the same contact again.
      expect(await gateway().upsertContact(ref(7, { email: null, phone: "+15550100007" }), STEP)).toBe(ids[0]);
      expect(contacts()).toHaveLength(1);
    });

    test("no email, no phone: created once on nudge_contact_id", async () => {
      const a = await gateway().upsertContact(ref(8, { email: null }), STEP);
      const b = await gateway().upsertContact(ref(8, { email: null }), { ...STEP, nudge_last_reminder_step: "3" });
      expect(b).toBe(a);
      expect(sim.crmContact(a)!.properties).toMatchObject({ nudge_contact_id: "8", nudge_last_reminder_step: "3" });
    });

    test("an email learnt after Nudge created the contact from its phone: the email's upsert conflicts on nudge_contact_id, the same contact is written", async () => {
      const fromPhone = await gateway().upsertContact(ref(9, { email: null, phone: "+15550100009" }), STEP);
      const id = await gateway().upsertContact(ref(9, { phone: "+15550100009" }), { ...STEP, nudge_last_reminder_step: "3" });
      expect(id).toBe(fromPhone);
      expect(contacts()).toHaveLength(1);
      expect(sim.crmContact(id)!.properties.nudge_last_reminder_step).toBe("3");
    });

    test("concurrent jobs share batch requests: 250 contacts in 3 requests", async () => {
      const crm = gateway({ batchWindowMs: 20 });
      const asked = requests();
      const ids = await Promise.all(Array.from({ length: 250 }, (_, i) => crm.upsertContact(ref(1000 + i), STEP)));
      expect(requests() - asked).toBe(3);
      expect(new Set(ids).size).toBe(250);
      const byNudgeId = new Map(contacts().map((c) => [c.properties.nudge_contact_id, c.id]));
      ids.forEach((id, i) => expect(byNudgeId.get(String(1000 + i))).toBe(id));
    });

    test("two jobs' writes to one contact never share a batch (HubSpot refuses an id twice); both land", async () => {
      const crm = gateway();
      const [a, b] = await Promise.all([crm.upsertContact(ref(20), STEP), crm.upsertContact(ref(20), { ...STEP, nudge_last_reminder_step: "3" })]);
      expect(a).toBe(b);
      expect(contacts()).toHaveLength(1);
    });
  });

  describe("errors", () => {
    test("before setup, a write is a CrmPortalError naming the command", async () => {
      const err = await gateway().upsertContact(ref(1), STEP).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CrmPortalError);
      expect((err as Error).message).toMatch(/HubSpot has no contact properties .*nudge_next_appointment_at.*run `nudge hubspot setup`/);
      expect(contacts()).toHaveLength(0);
    });

    test("a bad token is a CrmPortalError naming HUBSPOT_ACCESS_TOKEN", async () => {
      await expect(gateway({ accessToken: "pat-wrong" }).upsertContact(ref(1), STEP)).rejects.toMatchObject({ name: "CrmPortalError", status: 401, message: expect.stringContaining("HUBSPOT_ACCESS_TOKEN") });
    });

    test("a contact HubSpot refuses fails alone, with HubSpot's message; the rest of its batch is written", async () => {
      await gateway().setup();
      const crm = gateway({ batchWindowMs: 20 });
      const asked = requests();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) => crm.upsertContact(ref(100 + i, i === 17 ? { email: "not-an-email" } : {}), STEP)),
      );
      const failed = outcomes.flatMap((o, i) => (o.status === "rejected" ? [[i, o.reason]] : []));
      expect(failed).toHaveLength(1);
      const [index, reason] = failed[0]!;
      expect(index).toBe(17);
      expect(reason).toBeInstanceOf(PermanentProviderError);
      expect((reason as Error).message).toContain("Email address not-an-email is invalid");
      expect(contacts()).toHaveLength(39);
      // 1 batch, then halves down to the culprit: 2 x log2(40) more, not 40.
      expect(requests() - asked).toBeLessThanOrEqual(1 + 2 * 6);
    });

    test("429 TEN_SECONDLY_ROLLING: a NotAcceptedError with Retry-After and the policy named", async () => {
      await gateway().setup();
      // The window counts from the moment a limit is set: one request passes, the next is refused.
      sim.configureHubSpot({ requestsPerTenSeconds: 1 });
      const crm = gateway();
      await crm.upsertContact(ref(1), STEP);
      const err = await crm.upsertContact(ref(2), STEP).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HubSpotRateLimitError);
      expect(err).toBeInstanceOf(NotAcceptedError);
      expect(err).toMatchObject({ policyName: "TEN_SECONDLY_ROLLING", status: 429 });
      expect((err as NotAcceptedError).retryAfterMs).toBeGreaterThan(8_000);
      expect((err as NotAcceptedError).retryAfterMs).toBeLessThanOrEqual(10_000);
      expect((err as Error).message).toMatch(/TEN_SECONDLY_ROLLING rate limit/);
    });

    test("429 DAILY: deferred until the next UTC midnight, and no more requests spent until then", async () => {
      await gateway().setup();
      sim.configureHubSpot({ requestsPerDay: sim.hubSpotUsage().counted });
      const crm = gateway();
      const err = await crm.upsertContact(ref(1), STEP).catch((e: unknown) => e);
      const midnight = new Date();
      midnight.setUTCHours(24, 0, 0, 0);
      expect(err).toMatchObject({ name: "NotAcceptedError", policyName: "DAILY" });
      expect(Math.abs((err as NotAcceptedError).retryAfterMs! - (midnight.getTime() - Date.now()))).toBeLessThan(2_000);
      expect((err as Error).message).toMatch(/DAILY request limit is used up.*deferred until 00:00 UTC/);
      const asked = requests();
      await expect(crm.upsertContact(ref(2), STEP)).rejects.toMatchObject({ policyName: "DAILY" });
      expect(requests()).toBe(asked);
    });

    test("5xx, timeouts and resets are NotAcceptedError: the writes are idempotent", async () => {
      await gateway().setup();
      sim.injectFault([{ kind: "500", provider: "hubspot" }, { kind: "accept-then-reset", provider: "hubspot" }, { kind: "hang", provider: "hubspot" }]);
      const crm = gateway({ timeoutMs: 300 });
      for (let i = 0; i < 3; i++) await expect(crm.upsertContact(ref(1), STEP)).rejects.toBeInstanceOf(NotAcceptedError);
      await crm.upsertContact(ref(1), STEP);
      expect(contacts()).toHaveLength(1);
    });
  });

  describe("the shared limiter", () => {
    test("is awaited before every HubSpot request", async () => {
      let acquired = 0;
      const limiter: RequestLimiter = { acquire: async () => void acquired++ };
      const crm = gateway({ limiter });
      await crm.setup();
      await crm.checkReady();
      await Promise.all([crm.upsertContact(ref(1), STEP), crm.upsertContact(ref(2, { email: null, phone: "+15550100002" }), STEP)]);
      expect(acquired).toBe(sim.hubSpotUsage().requests);
    });

    test("while it makes a batch wait, later calls join that batch", async () => {
      await gateway().setup();
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      const limiter: RequestLimiter = { acquire: () => gate };
      const crm = gateway({ limiter, batchWindowMs: 1 });
      const asked = requests();
      const first = crm.upsertContact(ref(1), STEP);
      await new Promise((r) => setTimeout(r, 30));
      const later = Array.from({ length: 30 }, (_, i) => crm.upsertContact(ref(2 + i), STEP));
      await new Promise((r) => setTimeout(r, 30));
      release();
      await Promise.all([first, ...later]);
      expect(requests() - asked).toBe(1);
    });

    test("a limiter that fails is a NotAcceptedError, and nothing is sent", async () => {
      const crm = gateway({ limiter: { acquire: () => Promise.reject(new Error("Redis is down")) } });
      const asked = requests();
      await expect(crm.upsertContact(ref(1), STEP)).rejects.toMatchObject({ name: "NotAcceptedError", message: expect.stringContaining("Redis is down") });
      expect(requests()).toBe(asked);
    });
  });
});
