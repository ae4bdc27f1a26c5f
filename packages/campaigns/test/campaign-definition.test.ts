import { readFileSync } from "node:fs";
import path from "node:path";
import { CampaignDefinitionError, parseCampaign, validateCampaign } from "../src";

const valid = () => ({
  id: "welcome",
  name: "Welcome",
  version: 1,
  steps: [
    { id: "hello", channel: "sms", template: "Hi {{firstName}}! {{unsubscribeHint}}", delayHours: 0 },
    { id: "tips", channel: "email", subject: "Tips for {{firstName}}", template: "Hello {{name}}", delayHours: 24, sendWindow: { start: "09:00", end: "17:00", days: ["mon", "tue"] } },
  ],
});

function issues(input: unknown): string[] {
  try {
    validateCampaign(input);
  } catch (error) {
    if (error instanceof CampaignDefinitionError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  throw new Error("expected the campaign to be refused");
}

describe("campaign definitions", () => {
  it("accepts a valid campaign and fills in defaults", () => {
    const campaign = validateCampaign(valid());
    expect(campaign.stalenessHours).toBe(24);
    expect(campaign.steps.map((s) => s.id)).toEqual(["hello", "tips"]);
  });

  it("reads YAML and JSON", () => {
    const yaml = `id: welcome\nname: Welcome\nversion: 2\nstalenessHours: 6\ntimezoneFallback: America/Chicago\nsteps:\n  - id: hello\n    channel: sms\n    template: "Hi {{firstName}}"\n    delayHours: 0.05\n`;
    expect(parseCampaign(yaml, "welcome.yaml")).toMatchObject({ version: 2, stalenessHours: 6, timezoneFallback: "America/Chicago" });
    expect(parseCampaign(JSON.stringify(valid()), "welcome.json").id).toBe("welcome");
    expect(() => parseCampaign("{ nope", "x.json")).toThrow(/not valid JSON/);
  });

  it("names the field path of a negative delay", () => {
    const input = valid();
    input.steps[1]!.delayHours = -1;
    expect(issues(input)).toEqual(["steps[1].delayHours: expected a number >= 0"]);
  });

  it("rejects an unknown channel, naming the allowed ones", () => {
    const input = valid();
    (input.steps[0] as { channel: string }).channel = "fax";
    expect(issues(input)).toEqual(['steps[0].channel: unknown channel "fax"; expected one of sms, email']);
  });

  it("rejects a template variable a contact cannot have, naming it and the step", () => {
    const input = valid();
    input.steps[1]!.template = "Hi {{firstName}} from {{company}}";
    expect(issues(input)).toEqual([
      'steps[1].template: step "tips" uses the variable {{company}}, which a contact cannot have; use one of firstName, name, email, phone, timezone, campaignName, unsubscribeHint',
    ]);
  });

  it("rejects an empty send window", () => {
    const input = valid();
    input.steps[1]!.sendWindow = { start: "09:00", end: "09:00", days: ["mon"] };
    expect(issues(input)).toEqual(["steps[1].sendWindow: empty send window: start and end are both 09:00, so the window is empty"]);
    input.steps[1]!.sendWindow = { start: "09:00", end: "10:00", days: [] };
    expect(issues(input)).toEqual(["steps[1].sendWindow: empty send window: days is empty, so the window never opens"]);
  });

  it("rejects the rest of what a file can get wrong, each by its path", () => {
    const input = valid() as Record<string, unknown> & ReturnType<typeof valid>;
    input.id = "Welcome Campaign";
    input.version = 0;
    input.timezoneFallback = "Mars/Olympus";
    (input.steps[0] as Record<string, unknown>).delayHour = 2;
    input.steps[1]!.sendWindow = { start: "9am", end: "17:00", days: ["funday" as "mon"] };
    expect(issues(input)).toEqual(
      expect.arrayContaining([
        "id: expected a slug (lowercase letters, digits and single dashes, e.g. welcome-2)",
        "version: expected a positive integer",
        'timezoneFallback: "Mars/Olympus" is not an IANA time zone (e.g. "America/New_York")',
        "steps[0].delayHour: is not a campaign field; check its spelling",
        'steps[1].sendWindow.start: expected a time "HH:MM" from 00:00 to 23:59',
        'steps[1].sendWindow.days[0]: unknown day "funday"; expected one of mon, tue, wed, thu, fri, sat, sun',
      ]),
    );
    // Rules across fields are checked once every field has the right type (zod refines only well-typed values).
    const crossField = valid() as ReturnType<typeof valid> & { steps: Record<string, unknown>[] };
    crossField.steps[0]!.subject = "Hi";
    delete crossField.steps[1]!.subject;
    crossField.steps[1]!.id = "hello";
    expect(issues(crossField)).toEqual([
      "steps[0].subject: is for email steps only; remove it from this sms step",
      "steps[1].subject: is required for an email step",
      'steps[1].id: "hello" is also the id of steps[0]; step ids must be unique',
    ]);
    expect(issues({ id: "x", version: 1, steps: [] })).toEqual(["name: is required", "steps: a campaign needs at least one step"]);
  });
});

describe("the repository's campaign files", () => {
  it.each(["demo-welcome.yaml", "example-onboarding.yaml"])("%s is valid", (name) => {
    const file = path.join(__dirname, "../../../campaigns", name);
    expect(parseCampaign(readFileSync(file, "utf8"), file).steps.length).toBeGreaterThanOrEqual(3);
  });
});
