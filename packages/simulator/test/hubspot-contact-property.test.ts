import { SIMULATOR_HUBSPOT_TOKEN, startSimulator, type Simulator } from "../src";

/** A HubSpot batch read over plain HTTP, the way any client sends it. */
async function batchRead(sim: Simulator, ids: string[], properties: string[]): Promise<{ status: number; body: any }> {
  const res = await fetch(`${sim.url}/crm/v3/objects/contacts/batch/read`, {
    method: "POST",
    headers: { Authorization: `Bearer ${SIMULATOR_HUBSPOT_TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ inputs: ids.map((id) => ({ id })), properties, propertiesWithHistory: [] }),
  });
  return { status: res.status, body: await res.json() };
}

const control = (sim: Simulator, method: string, path: string, body?: unknown) =>
  fetch(`${sim.url}/__sim/${path}`, { method, headers: { "Content-Type": "application/json" }, ...(body !== undefined && { body: JSON.stringify(body) }) });

describe("setting a HubSpot contact's property as someone in HubSpot's UI would", () => {
  let sim: Simulator;

  beforeEach(async () => {
    sim = await startSimulator();
  });
  afterEach(async () => {
    await sim.close();
  });

  test("by id or by email; batch read returns lifecyclestage where a contact has one; no request, no record", async () => {
    const ada = sim.seedCrmContact({ email: "ada@example.com" });
    const bob = sim.seedCrmContact({ email: "bob@example.com" });
    expect(sim.setCrmContactProperty(ada.id, "lifecyclestage", "opportunity").properties.lifecyclestage).toBe("opportunity");
    expect(sim.setCrmContactProperty("BOB@example.com", "lifecyclestage", "lead").id).toBe(bob.id);
    const plain = sim.seedCrmContact({ email: "cy@example.com" });
    expect(sim.records()).toEqual([]);
    expect(sim.hubSpotUsage().requests).toBe(0);

    const read = await batchRead(sim, [ada.id, bob.id, plain.id], ["lifecyclestage"]);
    expect(read.status).toBe(200);
    expect(read.body.results.map((r: { id: string; properties: object }) => [r.id, r.properties])).toEqual([
      [ada.id, { lifecyclestage: "opportunity" }],
      [bob.id, { lifecyclestage: "lead" }],
      [plain.id, {}],
    ]);
  });

  test("a merged-away email finds the contact it went into; \"\" clears", async () => {
    const primary = sim.seedCrmContact({ email: "kept@example.com" });
    const merged = sim.seedCrmContact({ email: "dup@example.com" });
    sim.mergeCrmContacts(primary.id, merged.id);
    expect(sim.setCrmContactProperty("dup@example.com", "lifecyclestage", "customer").id).toBe(primary.id);
    expect(sim.setCrmContactProperty(primary.id, "lifecyclestage", "").properties.lifecyclestage).toBe("");
    expect((await batchRead(sim, [primary.id], ["lifecyclestage"])).body.results[0].properties).toEqual({ lifecyclestage: "" });
  });

  test("refuses what HubSpot would: no such contact, no such property, a value that is not an option, a read-only property", () => {
    const { id } = sim.seedCrmContact({ email: "ada@example.com" });
    expect(() => sim.setCrmContactProperty("424242", "lifecyclestage", "lead")).toThrow(/no contact with id 424242/);
    expect(() => sim.setCrmContactProperty("nobody@example.com", "lifecyclestage", "lead")).toThrow(/no contact with email nobody@example\.com/);
    expect(() => sim.setCrmContactProperty(id, "nudge_campaign", "welcome")).toThrow(/Property "nudge_campaign" does not exist/);
    expect(() => sim.setCrmContactProperty(id, "lifecyclestage", "champion")).toThrow(/"champion" was not one of the allowed options/);
    expect(() => sim.setCrmContactProperty(id, "hs_object_id", "9")).toThrow(/read only/);
    expect(sim.crmContact(id)!.properties.lifecyclestage).toBeUndefined();
  });

  test("a value another contact holds for a unique property is refused", async () => {
    const property = await fetch(`${sim.url}/crm/v3/properties/contacts`, {
      method: "POST",
      headers: { Authorization: `Bearer ${SIMULATOR_HUBSPOT_TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "nudge_contact_id", label: "Nudge contact ID", type: "number", fieldType: "number", groupName: "contactinformation", hasUniqueValue: true }),
    });
    expect(property.status).toBe(201);
    const ada = sim.seedCrmContact({ email: "ada@example.com", nudge_contact_id: "1" });
    const bob = sim.seedCrmContact({ email: "bob@example.com" });
    expect(() => sim.setCrmContactProperty(bob.id, "nudge_contact_id", "1")).toThrow(new RegExp(`contact ${ada.id} holds that value`));
    expect(sim.setCrmContactProperty(ada.id, "nudge_contact_id", "1").id).toBe(ada.id);
  });

  test("over HTTP, for a simulator in another process: PUT /__sim/hubspot/contacts/{id or email}/properties/{name}", async () => {
    const { id } = sim.seedCrmContact({ email: "ada+drip@example.com" });
    const set = await control(sim, "PUT", `hubspot/contacts/${encodeURIComponent("ada+drip@example.com")}/properties/lifecyclestage`, { value: "opportunity" });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ id, properties: { lifecyclestage: "opportunity" } });
    expect(sim.crmContact(id)!.properties.lifecyclestage).toBe("opportunity");

    const cleared = await control(sim, "PUT", `hubspot/contacts/${id}/properties/lifecyclestage`, { value: null });
    expect(cleared.status).toBe(200);
    expect(sim.crmContact(id)!.properties.lifecyclestage).toBe("");

    const badBody = await control(sim, "PUT", `hubspot/contacts/${id}/properties/lifecyclestage`, { stage: "lead" });
    expect(badBody.status).toBe(400);
    expect(await badBody.json()).toEqual({ error: expect.stringContaining('{"value"') });
    const badValue = await control(sim, "PUT", `hubspot/contacts/${id}/properties/lifecyclestage`, { value: "champion" });
    expect(badValue.status).toBe(400);
    expect(await badValue.json()).toEqual({ error: expect.stringContaining("allowed options") });
    const noContact = await control(sim, "PUT", "hubspot/contacts/424242/properties/lifecyclestage", { value: "lead" });
    expect(noContact.status).toBe(400);
    expect(await noContact.json()).toEqual({ error: expect.stringContaining("no contact with id 424242") });
    expect(sim.records()).toEqual([]);
  });
});
