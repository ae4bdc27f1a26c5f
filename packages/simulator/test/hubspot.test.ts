import http from "node:http";
import { SIMULATOR_HUBSPOT_TOKEN, startSimulator, type Simulator } from "../src";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON; `any` keeps the assertions on HubSpot's shapes short. */
  body: any;
}

/** One HubSpot call over plain HTTP, the way any client sends it. */
function hs(sim: Simulator, method: string, path: string, body?: unknown, token: string | null = SIMULATOR_HUBSPOT_TOKEN): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (token !== null) headers.Authorization = `Bearer ${token}`;
    const req = http.request(`${sim.url}${path}`, { method, agent: false, headers, timeout: 2000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : undefined });
      });
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const NUDGE_ID = { name: "nudge_contact_id", label: "Nudge contact ID", type: "number", fieldType: "number", groupName: "nudge", hasUniqueValue: true };
const CHANNEL = {
  name: "nudge_last_reminder_channel",
  label: "Last reminder channel",
  type: "enumeration",
  fieldType: "select",
  groupName: "nudge",
  options: ["sms", "voice", "email"].map((value) => ({ label: value, value })),
};

describe("the simulated HubSpot portal", () => {
  let sim: Simulator;

  beforeEach(async () => {
    sim = await startSimulator();
  });
  afterEach(async () => {
    await sim.close();
  });

  async function provision(): Promise<void> {
    expect((await hs(sim, "POST", "/crm/v3/properties/contacts/groups", { name: "nudge", label: "Nudge" })).status).toBe(201);
    expect((await hs(sim, "POST", "/crm/v3/properties/contacts", NUDGE_ID)).status).toBe(201);
    expect((await hs(sim, "POST", "/crm/v3/properties/contacts", CHANNEL)).status).toBe(201);
  }

  test("properties API: built-ins from the start; groups and properties created once (409 after), read back, listed and recorded", async () => {
    const builtIn = await hs(sim, "GET", "/crm/v3/properties/contacts");
    expect(builtIn.status).toBe(200);
    expect(builtIn.headers["content-type"]).toMatch(/^application\/json/);
    expect(builtIn.body.results.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(["email", "phone", "firstname", "lastname", "hs_object_id"]));
    expect((await hs(sim, "GET", "/crm/v3/properties/contacts/groups/nudge")).status).toBe(404);
    expect((await hs(sim, "POST", "/crm/v3/properties/contacts", NUDGE_ID)).body.message).toMatch(/group "nudge" does not exist/);

    await provision();
    const again = await hs(sim, "POST", "/crm/v3/properties/contacts", { ...NUDGE_ID, type: "string", fieldType: "text" });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ status: "error", message: "Property already exists", category: "OBJECT_ALREADY_EXISTS" });
    expect((await hs(sim, "POST", "/crm/v3/properties/contacts/groups", { name: "nudge", label: "Nudge" })).status).toBe(409);
    expect((await hs(sim, "GET", "/crm/v3/properties/contacts/groups/nudge")).body).toMatchObject({ name: "nudge", label: "Nudge", archived: false });
    expect((await hs(sim, "GET", "/crm/v3/properties/contacts/groups")).body.results.map((g: { name: string }) => g.name)).toContain("nudge");
    expect((await hs(sim, "GET", "/crm/v3/properties/contacts/nudge_contact_id")).body).toMatchObject({ name: "nudge_contact_id", type: "number", hasUniqueValue: true, groupName: "nudge" });
    expect((await hs(sim, "GET", "/crm/v3/properties/contacts/nudge_last_reminder_channel")).body.options.map((o: { value: string }) => o.value)).toEqual(["sms", "voice", "email"]);
    expect((await hs(sim, "GET", "/crm/v3/properties/contacts/nope")).status).toBe(404);
    expect(sim.records({ provider: "hubspot" }).map((r) => [r.operation, r.id])).toEqual([
      ["group.create", "nudge"],
      ["property.create", "nudge_contact_id"],
      ["property.create", "nudge_last_reminder_channel"],
    ]);
  });

  test("a write naming a property the portal lacks is refused the way HubSpot refuses it, unless rejectUnknownProperties is off", async () => {
    const { id } = sim.seedCrmContact({ email: "ann@example.com" });
    const refused = await hs(sim, "PATCH", `/crm/v3/objects/contacts/${id}`, { properties: { nudge_last_reminder_step: "2", firstname: "Ann" } });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({
      status: "error",
      category: "VALIDATION_ERROR",
      message: expect.stringMatching(/^Property values were not valid: \[.*PROPERTY_DOESNT_EXIST.*nudge_last_reminder_step/),
      errors: [{ code: "PROPERTY_DOESNT_EXIST", message: 'Property "nudge_last_reminder_step" does not exist', context: { propertyName: ["nudge_last_reminder_step"] } }],
    });
    expect(sim.crmContact(id)!.properties.firstname).toBeUndefined();

    expect((await hs(sim, "PUT", "/__sim/hubspot/settings", { rejectUnknownProperties: false }, null)).body).toMatchObject({ rejectUnknownProperties: false });
    expect((await hs(sim, "PATCH", `/crm/v3/objects/contacts/${id}`, { properties: { nudge_last_reminder_step: "2" } })).status).toBe(200);
    expect(sim.crmContact(id)!.properties.nudge_last_reminder_step).toBe("2");
    const bad = await hs(sim, "PUT", "/__sim/hubspot/settings", { rejectUnknownProperties: "yes" }, null);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/rejectUnknownProperties must be true or false/);
  });

  test("values are checked against their property's type: options, numbers, dates, emails; read-only ones refused", async () => {
    await provision();
    const { id } = sim.seedCrmContact({ email: "ann@example.com" });
    const refused = await hs(sim, "PATCH", `/crm/v3/objects/contacts/${id}`, { properties: { nudge_last_reminder_channel: "fax", nudge_contact_id: "x", hs_object_id: "9" } });
    expect(refused.status).toBe(400);
    expect(refused.body.errors.map((e: { code: string }) => e.code)).toEqual(["INVALID_OPTION", "INVALID_INTEGER", "READ_ONLY_VALUE"]);
    const badEmail = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/upsert", { inputs: [{ idProperty: "email", id: "not-an-email", properties: {} }] });
    expect(badEmail.status).toBe(400);
    expect(badEmail.body.errors).toEqual([expect.objectContaining({ code: "INVALID_EMAIL", message: "Email address not-an-email is invalid" })]);
    expect((await hs(sim, "PATCH", `/crm/v3/objects/contacts/${id}`, { properties: { nudge_last_reminder_channel: "voice", nudge_contact_id: 7 } })).status).toBe(200);
    expect(sim.crmContact(id)!.properties).toMatchObject({ nudge_last_reminder_channel: "voice", nudge_contact_id: "7" });
  });

  test("GET and PATCH by id: 404 for unknown, deleted and merged-away ids, never a creation", async () => {
    expect((await hs(sim, "PATCH", "/crm/v3/objects/contacts/999", { properties: { firstname: "X" } })).status).toBe(404);
    expect(sim.crmContacts()).toHaveLength(0);
    const ann = sim.seedCrmContact({ email: "Ann@Example.com", firstname: "Ann" }, "501");
    const read = await hs(sim, "GET", "/crm/v3/objects/contacts/501");
    expect(read.body).toMatchObject({ id: "501", archived: false, properties: { email: "ann@example.com", firstname: "Ann", hs_object_id: "501" } });
    expect((await hs(sim, "PATCH", "/crm/v3/objects/contacts/501", { properties: { lastname: "Lee" } })).body.properties).toMatchObject({ firstname: "Ann", lastname: "Lee" });
    expect(sim.records({ provider: "hubspot" })).toEqual([expect.objectContaining({ operation: "contact.update", id: "501", to: "501", properties: { lastname: "Lee" } })]);

    const bob = sim.seedCrmContact({ email: "bob@example.com", phone: "+15550001111" });
    const merged = sim.mergeCrmContacts(ann.id, bob.id);
    expect(merged.properties).toMatchObject({ email: "ann@example.com", phone: "+15550001111", hs_additional_emails: "bob@example.com" });
    const gone = await hs(sim, "GET", `/crm/v3/objects/contacts/${bob.id}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ status: "error", category: "OBJECT_NOT_FOUND" });
    const byOldEmail = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/read", { idProperty: "email", inputs: [{ id: "bob@example.com" }], properties: ["email"] });
    expect(byOldEmail.body.results.map((c: { id: string }) => c.id)).toEqual([ann.id]);

    expect(sim.deleteCrmContact(ann.id)).toBe(true);
    expect((await hs(sim, "PATCH", `/crm/v3/objects/contacts/${ann.id}`, { properties: { lastname: "Lee" } })).status).toBe(404);
    expect(sim.crmContacts()).toHaveLength(0);
  });

  test("create: 201 with a new id; an email that exists already is a 409 naming the existing id", async () => {
    const created = await hs(sim, "POST", "/crm/v3/objects/contacts", { properties: { email: "cy@example.com", firstname: "Cy" } });
    expect(created.status).toBe(201);
    expect(created.body.id).toMatch(/^\d+$/);
    const twice = await hs(sim, "POST", "/crm/v3/objects/contacts", { properties: { email: "CY@example.com" } });
    expect(twice.status).toBe(409);
    expect(twice.body.message).toContain(`Existing ID: ${created.body.id}`);
    expect(sim.records({ provider: "hubspot" }).map((r) => r.operation)).toEqual(["contact.create"]);
  });

  test("batch read by email or a unique property; ids not found come back as a 207 with their ids", async () => {
    await provision();
    const ann = sim.seedCrmContact({ email: "ann@example.com", nudge_contact_id: "1" });
    const byEmail = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/read", { idProperty: "email", inputs: [{ id: "ANN@example.com" }, { id: "nobody@example.com" }], properties: ["nudge_contact_id"] });
    expect(byEmail.status).toBe(207);
    expect(byEmail.body.results).toEqual([expect.objectContaining({ id: ann.id, properties: { nudge_contact_id: "1" } })]);
    expect(byEmail.body.errors).toEqual([expect.objectContaining({ category: "OBJECT_NOT_FOUND", context: { ids: ["nobody@example.com"] } })]);
    const byNudgeId = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/read", { idProperty: "nudge_contact_id", inputs: [{ id: "1" }], properties: [] });
    expect(byNudgeId.status).toBe(200);
    expect(byNudgeId.body.results[0].id).toBe(ann.id);
    expect((await hs(sim, "POST", "/crm/v3/objects/contacts/batch/read", { idProperty: "firstname", inputs: [{ id: "Ann" }] })).status).toBe(400);
  });

  test("batch upsert by email and by a unique property: creates or updates, echoes the trace id, never two contacts with one value", async () => {
    await provision();
    const dan = sim.seedCrmContact({ email: "dan@example.com", firstname: "Dan" });
    const first = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/upsert", {
      inputs: [
        { idProperty: "email", id: "DAN@example.com", properties: { nudge_contact_id: "10" }, objectWriteTraceId: "a" },
        { idProperty: "email", id: "eve@example.com", properties: { nudge_contact_id: "11" }, objectWriteTraceId: "b" },
        { idProperty: "nudge_contact_id", id: "12", properties: { phone: "+15550002222" }, objectWriteTraceId: "c" },
      ],
    });
    expect(first.status).toBe(200);
    expect(first.body.results.map((r: { id: string; new: boolean; objectWriteTraceId: string }) => [r.objectWriteTraceId, r.new])).toEqual([["a", false], ["b", true], ["c", true]]);
    expect(first.body.results[0].id).toBe(dan.id);
    expect(sim.crmContact(dan.id)!.properties).toMatchObject({ firstname: "Dan", nudge_contact_id: "10" });
    const eve = sim.crmContact(first.body.results[1].id)!;
    expect(eve.properties).toMatchObject({ email: "eve@example.com", nudge_contact_id: "11" });
    expect(sim.crmContact(first.body.results[2].id)!.properties).toMatchObject({ nudge_contact_id: "12", phone: "+15550002222" });

    const second = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/upsert", { inputs: [{ idProperty: "nudge_contact_id", id: "12", properties: { firstname: "Fay" } }] });
    expect(second.body.results).toEqual([expect.objectContaining({ id: first.body.results[2].id, new: false })]);
    expect(sim.crmContacts()).toHaveLength(3);

    // Eve's nudge_contact_id on Dan: refused whole, nothing written.
    const conflict = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/upsert", {
      inputs: [
        { idProperty: "email", id: "dan@example.com", properties: { nudge_contact_id: "11" } },
        { idProperty: "email", id: "gil@example.com", properties: {} },
      ],
    });
    expect(conflict.status).toBe(409);
    expect(conflict.body).toMatchObject({ category: "CONFLICT", message: expect.stringContaining(`Existing ID: ${eve.id}`) });
    expect(sim.crmContacts()).toHaveLength(3);

    const duplicate = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/upsert", {
      inputs: [{ idProperty: "email", id: "h@example.com", properties: {} }, { idProperty: "email", id: "H@example.com", properties: {} }],
    });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.message).toMatch(/Duplicate IDs/);
    const notUnique = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/upsert", { inputs: [{ idProperty: "phone", id: "+1555", properties: {} }] });
    expect(notUnique.body.message).toMatch(/non-unique 0-1 property "phone"/);
    expect(sim.records({ provider: "hubspot", to: dan.id }).map((r) => r.operation)).toEqual(["contact.update"]);
  });

  test("batch update by id: missing ids are a 207 with their ids while the others are written; a refused value refuses the batch", async () => {
    await provision();
    const a = sim.seedCrmContact({ email: "a@example.com" });
    const b = sim.seedCrmContact({ email: "b@example.com" });
    sim.deleteCrmContact(b.id);
    const res = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/update", {
      inputs: [
        { id: a.id, properties: { nudge_last_reminder_channel: "sms" } },
        { id: b.id, properties: { nudge_last_reminder_channel: "sms" } },
        { id: "424242", properties: { nudge_last_reminder_channel: "sms" } },
      ],
    });
    expect(res.status).toBe(207);
    expect(res.body.results.map((r: { id: string }) => r.id)).toEqual([a.id]);
    expect(res.body).toMatchObject({ numErrors: 1, errors: [{ status: "error", category: "OBJECT_NOT_FOUND", context: { ids: [b.id, "424242"] } }] });
    expect(sim.crmContact(a.id)!.properties.nudge_last_reminder_channel).toBe("sms");

    const refused = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/update", {
      inputs: [{ id: a.id, properties: { nudge_last_reminder_channel: "email" } }, { id: a.id + "0", properties: { nudge_x: "1" } }],
    });
    expect(refused.status).toBe(400);
    expect(sim.crmContact(a.id)!.properties.nudge_last_reminder_channel).toBe("sms");
    const tooMany = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/update", { inputs: Array.from({ length: 101 }, (_, i) => ({ id: String(i), properties: {} })) });
    expect(tooMany.status).toBe(400);
  });

  test("search by phone (EQ) over an index that lags by searchLagMs", async () => {
    sim.seedCrmContact({ phone: "+15550003333", firstname: "Ida" });
    const search = (phone: string) => hs(sim, "POST", "/crm/v3/objects/contacts/search", { filterGroups: [{ filters: [{ propertyName: "phone", operator: "EQ", value: phone }] }], properties: ["phone"], limit: 10 });
    const found = await search("+15550003333");
    expect(found.body).toMatchObject({ total: 1, results: [{ properties: { phone: "+15550003333", firstname: "Ida" } }] });

    sim.configureHubSpot({ searchLagMs: 300 });
    const created = await hs(sim, "POST", "/crm/v3/objects/contacts", { properties: { phone: "+15550004444" } });
    expect((await search("+15550004444")).body.total).toBe(0);
    await new Promise((r) => setTimeout(r, 350));
    expect((await search("+15550004444")).body.results.map((c: { id: string }) => c.id)).toEqual([created.body.id]);
    const bad = await hs(sim, "POST", "/crm/v3/objects/contacts/search", { filterGroups: Array.from({ length: 6 }, () => ({ filters: [] })) });
    expect(bad.status).toBe(400);
  });

  test("401 for any token but the portal's; 403 MISSING_SCOPES for a scope the app lacks", async () => {
    const wrong = await hs(sim, "GET", "/crm/v3/properties/contacts", undefined, "pat-another-token");
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ status: "error", category: "INVALID_AUTHENTICATION" });
    expect((await hs(sim, "GET", "/crm/v3/properties/contacts", undefined, null)).status).toBe(401);

    sim.configureHubSpot({ missingScopes: ["crm.objects.contacts.write"] });
    const forbidden = await hs(sim, "POST", "/crm/v3/objects/contacts/batch/upsert", { inputs: [{ idProperty: "email", id: "x@example.com", properties: {} }] });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ category: "MISSING_SCOPES", errors: [{ context: { requiredGranularScopes: ["crm.objects.contacts.write"] } }] });
    expect((await hs(sim, "GET", "/crm/v3/properties/contacts")).status).toBe(200);
    expect(sim.crmContacts()).toHaveLength(0);
  });

  test("rate limits: N per rolling 10 s, then 429 TEN_SECONDLY_ROLLING with Retry-After; a daily cap answers DAILY until midnight UTC; counters say how many and when", async () => {
    sim.configureHubSpot({ requestsPerTenSeconds: 3 });
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await hs(sim, "GET", "/crm/v3/properties/contacts/groups"));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429]);
    expect(answers[0]!.headers["x-hubspot-ratelimit-remaining"]).toBe("2");
    const limited = answers[3]!;
    expect(limited.body).toMatchObject({ status: "error", category: "RATE_LIMITS", policyName: "TEN_SECONDLY_ROLLING", errorType: "RATE_LIMIT", message: "You have reached your ten_secondly_rolling limit." });
    expect(Number(limited.headers["retry-after"])).toBeGreaterThanOrEqual(9);
    expect(Number(limited.headers["retry-after"])).toBeLessThanOrEqual(10);
    const usage = (await hs(sim, "GET", "/__sim/hubspot/usage", undefined, null)).body;
    expect(usage).toMatchObject({ requests: 5, counted: 3 });
    expect(usage.rateLimited).toEqual([
      { at: expect.any(String), policyName: "TEN_SECONDLY_ROLLING" },
      { at: expect.any(String), policyName: "TEN_SECONDLY_ROLLING" },
    ]);

    sim.reset();
    sim.configureHubSpot({ requestsPerDay: 2 });
    await hs(sim, "GET", "/crm/v3/properties/contacts/groups");
    await hs(sim, "GET", "/crm/v3/properties/contacts/groups");
    const daily = await hs(sim, "GET", "/crm/v3/properties/contacts/groups");
    expect(daily.status).toBe(429);
    expect(daily.body).toMatchObject({ policyName: "DAILY", message: "You have reached your daily limit." });
    const midnight = new Date();
    midnight.setUTCHours(24, 0, 0, 0);
    expect(Math.abs(Number(daily.headers["retry-after"]) - (midnight.getTime() - Date.now()) / 1000)).toBeLessThan(3);
    expect(sim.hubSpotUsage().rateLimited.map((r) => r.policyName)).toEqual(["DAILY"]);
  });

  test("control routes seed, read, delete and merge contacts; reset gives a fresh portal with the starting settings", async () => {
    const seeded = await hs(sim, "POST", "/__sim/hubspot/contacts", { id: "77", properties: { email: "j@example.com" } }, null);
    expect(seeded.status).toBe(201);
    expect(seeded.body).toMatchObject({ id: "77", properties: { email: "j@example.com" } });
    const other = sim.seedCrmContact({ email: "k@example.com" });
    expect((await hs(sim, "POST", "/__sim/hubspot/merge", { primaryId: "77", mergedId: other.id }, null)).status).toBe(200);
    expect((await hs(sim, "GET", "/__sim/hubspot/contacts", undefined, null)).body.results.map((c: { id: string }) => c.id)).toEqual(["77"]);
    expect((await hs(sim, "DELETE", "/__sim/hubspot/contacts/77", undefined, null)).status).toBe(204);
    expect((await hs(sim, "GET", "/__sim/hubspot/contacts/77", undefined, null)).status).toBe(404);

    await provision();
    sim.configureHubSpot({ rejectUnknownProperties: false, requestsPerTenSeconds: 100 });
    sim.reset();
    expect(sim.configureHubSpot()).toMatchObject({ rejectUnknownProperties: true, requestsPerTenSeconds: null });
    expect((await hs(sim, "GET", "/crm/v3/properties/contacts/nudge_contact_id")).status).toBe(404);
    expect(sim.hubSpotUsage()).toMatchObject({ requests: 1 });
  });

  test("settings given at start: another token, unknown properties accepted", async () => {
    await sim.close();
    sim = await startSimulator({ hubspot: { accessToken: "pat-portal-2", rejectUnknownProperties: false } });
    expect((await hs(sim, "GET", "/crm/v3/properties/contacts")).status).toBe(401);
    const created = await hs(sim, "POST", "/crm/v3/objects/contacts", { properties: { anything: "goes" } }, "pat-portal-2");
    expect(created.status).toBe(201);
  });
});
