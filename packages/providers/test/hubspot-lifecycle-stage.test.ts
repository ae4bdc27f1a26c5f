import { CrmPortalError, NotAcceptedError, type CrmContactRef, type RequestLimiter } from "@nudge/core";
import { SIMULATOR_HUBSPOT_TOKEN, startSimulator, type Simulator } from "@nudge/simulator";
import { HubSpotCrm, NUDGE_PROPERTIES, type HubSpotConfig } from "../src";

/** What the drip step writes before it reads the stage. */
const DRIP_STEP = { nudge_campaign: "welcome", nudge_campaign_step: "day-3", nudge_campaign_step_at: "2026-11-27T15:00:00.000Z" };

const ref = (contactId: number): CrmContactRef => ({ contactId, crmId: null, name: "Ada Lovelace", email: `ada${contactId}@example.com`, phone: null });

describe("HubSpotCrm.lifecycleStage against the simulated portal, through the real SDK", () => {
  let sim: Simulator;
  const gateway = (overrides: Partial<HubSpotConfig> = {}) =>
    new HubSpotCrm({ accessToken: SIMULATOR_HUBSPOT_TOKEN, baseUrl: sim.url, timeoutMs: 2_000, batchWindowMs: 5, ...overrides });
  const requests = () => sim.hubSpotUsage().requests;

  beforeEach(async () => {
    sim = await startSimulator();
  });
  afterEach(async () => {
    await sim.close();
  });

  test("the drip step's properties are Nudge's: setup creates them and the portal takes the step's values", async () => {
    expect(NUDGE_PROPERTIES.map((p) => p.name)).toEqual(expect.arrayContaining(Object.keys(DRIP_STEP)));
    const crm = gateway();
    expect((await crm.setup()).ok).toBe(true);
    expect(await crm.checkReady()).toEqual({ ready: true });
    const id = await crm.upsertContact(ref(1), DRIP_STEP);
    expect(sim.crmContact(id)!.properties).toMatchObject(DRIP_STEP);
  });

  test("reads the stage sales set in HubSpot after Nudge's write, and sees it move", async () => {
    const crm = gateway();
    await crm.setup();
    const id = await crm.upsertContact(ref(1), DRIP_STEP);
    expect(await crm.lifecycleStage(id)).toBeUndefined();
    sim.setCrmContactProperty("ADA1@example.com", "lifecyclestage", "opportunity");
    expect(await crm.lifecycleStage(id)).toBe("opportunity");
    sim.setCrmContactProperty(id, "lifecyclestage", "customer");
    expect(await crm.lifecycleStage(id)).toBe("customer");
    sim.setCrmContactProperty(id, "lifecyclestage", "");
    expect(await crm.lifecycleStage(id)).toBeUndefined();
  });

  test("concurrent reads share one batch read: each gets its own contact's stage, none or not found", async () => {
    const stages = ["lead", "opportunity", undefined, "customer"];
    const ids = stages.map((stage, i) => {
      const { id } = sim.seedCrmContact({ email: `c${i}@example.com` });
      if (stage) sim.setCrmContactProperty(id, "lifecyclestage", stage);
      return id;
    });
    const { id: deleted } = sim.seedCrmContact({ email: "gone@example.com", lifecyclestage: "lead" });
    sim.deleteCrmContact(deleted);
    const crm = gateway({ batchWindowMs: 20 });
    const seen = sim.records().length;
    const asked = requests();
    const answers = await Promise.all([...ids, deleted, "987654"].map((id) => crm.lifecycleStage(id)));
    expect(answers).toEqual([...stages, undefined, undefined]);
    expect(requests() - asked).toBe(1);
    // A read writes nothing: the portal's record of accepted writes is as it was.
    expect(sim.records()).toHaveLength(seen);
  });

  test("a burst of reads costs one request per hundred contacts", async () => {
    const ids = Array.from({ length: 150 }, (_, i) => sim.seedCrmContact({ email: `c${i}@example.com`, lifecyclestage: i % 2 ? "lead" : "customer" }).id);
    const crm = gateway({ batchWindowMs: 20 });
    const asked = requests();
    const answers = await Promise.all(ids.map((id) => crm.lifecycleStage(id)));
    expect(answers).toEqual(ids.map((_, i) => (i % 2 ? "lead" : "customer")));
    expect(requests() - asked).toBe(2);
  });

  test("a contact HubSpot does not have, alone in its batch, is undefined: never existed, deleted, or merged away as the simulator has it (404)", async () => {
    const crm = gateway();
    expect(await crm.lifecycleStage("424242")).toBeUndefined();
    const { id: deleted } = sim.seedCrmContact({ email: "gone@example.com", lifecyclestage: "lead" });
    sim.deleteCrmContact(deleted);
    expect(await crm.lifecycleStage(deleted)).toBeUndefined();
    const primary = sim.seedCrmContact({ email: "kept@example.com", lifecyclestage: "customer" });
    const { id: merged } = sim.seedCrmContact({ email: "dup@example.com", lifecyclestage: "lead" });
    sim.mergeCrmContacts(primary.id, merged);
    expect(await crm.lifecycleStage(merged)).toBeUndefined();
    expect(await crm.lifecycleStage(primary.id)).toBe("customer");
  });

  test("two jobs' reads of one contact never share a batch (HubSpot refuses an id twice); both are answered", async () => {
    const { id } = sim.seedCrmContact({ email: "ada@example.com", lifecyclestage: "lead" });
    const crm = gateway({ batchWindowMs: 20 });
    const asked = requests();
    expect(await Promise.all([crm.lifecycleStage(id), crm.lifecycleStage(id)])).toEqual(["lead", "lead"]);
    expect(requests() - asked).toBe(2);
  });

  test("a read refused for a scope is a CrmPortalError, and checkReady keeps reporting it", async () => {
    const crm = gateway();
    await crm.setup();
    const { id } = sim.seedCrmContact({ email: "ada@example.com", lifecyclestage: "lead" });
    sim.configureHubSpot({ missingScopes: ["crm.objects.contacts.read"] });
    const err = await crm.lifecycleStage(id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmPortalError);
    expect((err as Error).message).toMatch(/batch read.*lacks crm\.objects\.contacts\.read.*grant the app/);
    // The check itself reads the schema, which the app may still do: only the remembered refusal keeps it not ready.
    expect(await crm.checkReady()).toEqual({ ready: false, reason: (err as Error).message });
  });

  test("a bad token is a CrmPortalError naming HUBSPOT_ACCESS_TOKEN", async () => {
    await expect(gateway({ accessToken: "pat-wrong" }).lifecycleStage("101")).rejects.toMatchObject({
      name: "CrmPortalError",
      status: 401,
      message: expect.stringContaining("HUBSPOT_ACCESS_TOKEN"),
    });
  });

  test("5xx, timeouts and resets are NotAcceptedError: a read changes nothing, the job retries", async () => {
    const { id } = sim.seedCrmContact({ email: "ada@example.com", lifecyclestage: "lead" });
    sim.injectFault([{ kind: "500", provider: "hubspot" }, { kind: "reset", provider: "hubspot" }, { kind: "hang", provider: "hubspot" }]);
    const crm = gateway({ timeoutMs: 300 });
    for (let i = 0; i < 3; i++) await expect(crm.lifecycleStage(id)).rejects.toBeInstanceOf(NotAcceptedError);
    expect(await crm.lifecycleStage(id)).toBe("lead");
  });

  test("the shared limiter is awaited before each batch read", async () => {
    let acquired = 0;
    const limiter: RequestLimiter = { acquire: async () => void acquired++ };
    const ids = Array.from({ length: 5 }, (_, i) => sim.seedCrmContact({ email: `c${i}@example.com` }).id);
    const crm = gateway({ limiter, batchWindowMs: 20 });
    await Promise.all(ids.map((id) => crm.lifecycleStage(id)));
    expect(acquired).toBe(1);
    expect(requests()).toBe(1);
  });
});
