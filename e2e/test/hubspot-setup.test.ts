import path from "node:path";
import { type CommandRun, REPO_ROOT, runCommand } from "@nudge/testing";
import { simulatorProviderEnv, startSimulator, type Simulator } from "@nudge/simulator";

/**
 * `nudge hubspot setup` as an operator runs it in a deployment: the bin npm linked into node_modules/.bin, as a
 * real process, against the simulated portal (which, like HubSpot, refuses writes to properties it lacks).
 */

const NUDGE_BIN = path.join(REPO_ROOT, "node_modules/.bin/nudge");
const PROPERTIES = [
  "nudge_contact_id",
  "nudge_next_appointment_at",
  "nudge_last_reminder_step",
  "nudge_last_reminder_channel",
  "nudge_campaign",
  "nudge_campaign_step",
  "nudge_campaign_step_at",
];

const setup = async (env: Record<string, string>): Promise<Omit<CommandRun, "ms">> => {
  const { code, lines } = await runCommand(NUDGE_BIN, ["hubspot", "setup"], env);
  return { code, lines };
};

describe("nudge hubspot setup", () => {
  let sim: Simulator;
  const hubSpotEnv = () => {
    const all = simulatorProviderEnv(sim.url);
    return { HUBSPOT_ACCESS_TOKEN: all.HUBSPOT_ACCESS_TOKEN!, HUBSPOT_BASE_URL: all.HUBSPOT_BASE_URL!, PROVIDER_TIMEOUT_MS: "5000" };
  };
  const writeAProperty = () =>
    fetch(`${sim.url}/crm/v3/objects/contacts/batch/upsert`, {
      method: "POST",
      headers: { Authorization: `Bearer ${hubSpotEnv().HUBSPOT_ACCESS_TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ inputs: [{ idProperty: "email", id: "ada@example.com", properties: { nudge_last_reminder_step: "1" } }] }),
    });

  beforeAll(async () => {
    sim = await startSimulator();
  });
  beforeEach(() => sim.reset());
  afterAll(async () => {
    await sim.close();
  });

  test("creates the group and the properties, line by line; run again, it changes nothing and says so", async () => {
    expect((await writeAProperty()).status).toBe(400);

    const first = await setup(hubSpotEnv());
    expect(first).toEqual({
      code: 0,
      lines: [
        "property group nudge: created",
        ...PROPERTIES.map((name) => `property ${name}: created`),
        "HubSpot is ready for Nudge: 8 created, 0 already there",
      ],
    });
    const created = sim.records({ provider: "hubspot" });
    expect(created.map((r) => r.operation)).toEqual(["group.create", ...PROPERTIES.map(() => "property.create")]);

    const second = await setup(hubSpotEnv());
    expect(second).toEqual({
      code: 0,
      lines: [
        "property group nudge: already there",
        ...PROPERTIES.map((name) => `property ${name}: already there`),
        "nothing changed: Nudge's property group and properties were all there already",
      ],
    });
    expect(sim.records({ provider: "hubspot" })).toEqual(created);
    expect((await writeAProperty()).status).toBe(200);
  });

  test("a property that exists with another type is reported and left alone; the exit code says the portal is not ready", async () => {
    const existing = await fetch(`${sim.url}/crm/v3/properties/contacts`, {
      method: "POST",
      headers: { Authorization: `Bearer ${hubSpotEnv().HUBSPOT_ACCESS_TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "nudge_next_appointment_at", label: "Next visit", type: "string", fieldType: "text", groupName: "contactinformation" }),
    });
    expect(existing.status).toBe(201);
    const run = await setup(hubSpotEnv());
    expect(run.code).toBe(1);
    expect(run.lines).toContain("property nudge_next_appointment_at: exists with another type: not changed (is of type string, Nudge writes datetime)");
    expect(run.lines).toContain("property nudge_contact_id: created");
    expect(run.lines.at(-1)).toMatch(/^HubSpot is not ready for Nudge: nudge_next_appointment_at cannot hold what Nudge writes .*run `nudge hubspot setup` again$/);
    const kept = await fetch(`${sim.url}/crm/v3/properties/contacts/nudge_next_appointment_at`, { headers: { Authorization: `Bearer ${hubSpotEnv().HUBSPOT_ACCESS_TOKEN}` } });
    expect(await kept.json()).toMatchObject({ type: "string", label: "Next visit" });
  });

  test("a wrong token: one line naming the variable to fix, exit 1; no token: exit 2", async () => {
    const wrong = await setup({ ...hubSpotEnv(), HUBSPOT_ACCESS_TOKEN: "pat-not-this-portal" });
    expect(wrong.code).toBe(1);
    expect(wrong.lines).toEqual([expect.stringMatching(/^nudge hubspot: HubSpot refused the access token .*set HUBSPOT_ACCESS_TOKEN/)]);
    const { HUBSPOT_ACCESS_TOKEN: _token, ...withoutToken } = hubSpotEnv();
    const missing = await setup(withoutToken);
    expect(missing.code).toBe(2);
    expect(missing.lines.join("\n")).toMatch(/HUBSPOT_ACCESS_TOKEN/);
    expect(sim.records({ provider: "hubspot" })).toHaveLength(0);
  });
});
