import { createHash } from "node:crypto";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { CampaignDefinitionError, type DefinitionIssue } from "./campaign-definition-error";
import { emptyWindowReason, isValidTimeOfDay, isValidTimeZone, WEEKDAYS } from "./send-window";
import { parseTemplate, TEMPLATE_VARIABLES, unknownVariables } from "./template";

/** The channels a campaign step may use (voice calls are for reminders only). */
export const CAMPAIGN_CHANNELS = ["sms", "email"] as const;
export type CampaignChannel = (typeof CAMPAIGN_CHANNELS)[number];

// Slugs: they go into idempotency keys and BullMQ jobIds, which may not contain `:`.
const SLUG = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const SLUG_HINT = "expected a slug (lowercase letters, digits and single dashes, e.g. welcome-2)";

type Issue = z.core.$ZodRawIssue;
const missingOr = (expected: string) => (iss: Issue) => (iss.input === undefined ? "is required" : expected);

const slug = () => z.string({ error: missingOr(SLUG_HINT) }).regex(SLUG, { error: SLUG_HINT });
const text = (what: string) => z.string({ error: missingOr(`expected ${what}`) }).trim().min(1, { error: `expected ${what}, not an empty string` });
const timeOfDay = () =>
  z.string({ error: missingOr('expected a time "HH:MM"') }).refine(isValidTimeOfDay, { error: 'expected a time "HH:MM" from 00:00 to 23:59' });

const sendWindowSchema = z
  .strictObject({
    start: timeOfDay(),
    end: timeOfDay(),
    days: z
      .array(z.enum(WEEKDAYS, { error: (iss) => `unknown day ${JSON.stringify(iss.input)}; expected one of ${WEEKDAYS.join(", ")}` }), {
        error: missingOr(`expected a list of days (${WEEKDAYS.join(", ")})`),
      })
      .optional(),
  })
  .superRefine((window, ctx) => {
    const empty = emptyWindowReason(window);
    if (empty) ctx.addIssue({ code: "custom", message: `empty send window: ${empty}` });
    if (window.days && new Set(window.days).size !== window.days.length) ctx.addIssue({ code: "custom", path: ["days"], message: "lists a day twice" });
  });

const stepSchema = z
  .strictObject({
    id: slug(),
    channel: z.enum(CAMPAIGN_CHANNELS, {
      error: (iss) =>
        iss.input === undefined ? "is required" : `unknown channel ${JSON.stringify(iss.input)}; expected one of ${CAMPAIGN_CHANNELS.join(", ")}`,
    }),
    subject: text("a subject line").optional(),
    template: text("the message text"),
    delayHours: z
      .number({ error: missingOr("expected a number >= 0") })
      .min(0, { error: "expected a number >= 0" })
      .refine(Number.isFinite, { error: "expected a finite number >= 0" }),
    sendWindow: sendWindowSchema.optional(),
  })
  .superRefine((step, ctx) => {
    if (step.channel === "email" && step.subject === undefined) ctx.addIssue({ code: "custom", path: ["subject"], message: "is required for an email step" });
    if (step.channel === "sms" && step.subject !== undefined) ctx.addIssue({ code: "custom", path: ["subject"], message: "is for email steps only; remove it from this sms step" });
    for (const [field, value] of [["template", step.template], ["subject", step.subject]] as const) {
      if (value === undefined) continue;
      const { problem } = parseTemplate(value);
      if (problem) ctx.addIssue({ code: "custom", path: [field], message: problem });
      for (const name of unknownVariables(value)) {
        ctx.addIssue({
          code: "custom",
          path: [field],
          message: `step ${JSON.stringify(step.id)} uses the variable {{${name}}}, which a contact cannot have; use one of ${TEMPLATE_VARIABLES.join(", ")}`,
        });
      }
    }
  });

export const campaignDefinitionSchema = z
  .strictObject({
    id: slug(),
    name: text("a name"),
    version: z.int({ error: missingOr("expected a positive integer") }).positive({ error: "expected a positive integer" }),
    timezoneFallback: z
      .string({ error: 'expected an IANA time zone such as "America/New_York"' })
      .refine(isValidTimeZone, { error: (iss) => `${JSON.stringify(iss.input)} is not an IANA time zone (e.g. "America/New_York")` })
      .optional(),
    stalenessHours: z.number({ error: "expected a number > 0" }).positive({ error: "expected a number > 0" }).default(24),
    steps: z.array(stepSchema, { error: missingOr("expected a list of steps") }).min(1, { error: "a campaign needs at least one step" }),
  })
  .superRefine((campaign, ctx) => {
    const seen = new Map<string, number>();
    campaign.steps.forEach((step, i) => {
      const first = seen.get(step.id);
      if (first !== undefined) ctx.addIssue({ code: "custom", path: ["steps", i, "id"], message: `${JSON.stringify(step.id)} is also the id of steps[${first}]; step ids must be unique` });
      else seen.set(step.id, i);
    });
  });

export type CampaignDefinition = z.output<typeof campaignDefinitionSchema>;
export type CampaignStepDefinition = CampaignDefinition["steps"][number];

/** `["steps", 2, "delayHours"]` -> `steps[2].delayHours`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), "");
}

function issuesOf(error: z.ZodError): DefinitionIssue[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: "is not a campaign field; check its spelling" }));
    }
    return [{ path: formatPath(issue.path) || "(file)", message: issue.message }];
  });
}

/** Validates a parsed campaign (an object from YAML or JSON), filling in defaults. */
export function validateCampaign(input: unknown, source = "campaign"): CampaignDefinition {
  const result = campaignDefinitionSchema.safeParse(input);
  if (!result.success) throw new CampaignDefinitionError(source, issuesOf(result.error));
  return result.data;
}

/**
 * A campaign file's text, YAML or JSON (JSON is YAML too, but a `.json` file is read as JSON so that its errors are
 * JSON's), validated.
 */
export function parseCampaign(textContent: string, source = "campaign"): CampaignDefinition {
  let input: unknown;
  try {
    input = source.endsWith(".json") ? JSON.parse(textContent) : parseYaml(textContent);
  } catch (error) {
    throw new CampaignDefinitionError(source, [{ path: "(file)", message: `not valid ${source.endsWith(".json") ? "JSON" : "YAML"}: ${(error as Error).message}` }]);
  }
  return validateCampaign(input, source);
}

/** JSON with keys sorted at every level: the same definition always gives the same text, whatever the file's order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** sha256 of the validated definition's canonical JSON: what "the same version, unchanged" means. */
export function definitionChecksum(definition: CampaignDefinition): string {
  return createHash("sha256").update(canonicalJson(definition)).digest("hex");
}
