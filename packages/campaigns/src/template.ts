/**
 * Message templates: text with `{{variable}}` placeholders. The variables are what a contact has (see model Contact
 * in prisma/schema.prisma: name, email, phone, timezone; `firstName` derived from `name`) plus what the campaign
 * supplies. A campaign file naming any other variable is refused when it is loaded, so a lead's message never fails
 * for a variable nobody could fill.
 */
export const TEMPLATE_VARIABLES = ["firstName", "name", "email", "phone", "timezone", "campaignName", "unsubscribeHint"] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];
export type TemplateVars = Partial<Record<TemplateVariable, string | null | undefined>>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KNOWN = new Set<string>(TEMPLATE_VARIABLES);

/** A template that cannot be rendered for this contact: a variable with no value, or one that does not exist. */
export class TemplateRenderError extends Error {
  override readonly name = "TemplateRenderError";
  constructor(
    message: string,
    readonly variable: string,
  ) {
    super(message);
  }
}

/** The placeholders of a template in order of appearance, or the first syntax problem found. */
export function parseTemplate(template: string): { variables: string[]; problem?: string } {
  const variables: string[] = [];
  for (const match of template.matchAll(PLACEHOLDER)) {
    const name = match[1]!;
    if (!IDENTIFIER.test(name)) return { variables, problem: `placeholder {{${name}}} is not a variable name` };
    variables.push(name);
  }
  const rest = template.replace(PLACEHOLDER, "");
  if (rest.includes("{{") || rest.includes("}}")) return { variables, problem: "unbalanced {{ or }}" };
  return { variables };
}

/** Variables a template uses that no contact or campaign can supply. */
export function unknownVariables(template: string): string[] {
  return [...new Set(parseTemplate(template).variables.filter((v) => !KNOWN.has(v)))];
}

/** The first word of a name ("Ada Lovelace" -> "Ada"), or undefined for a blank one. */
export function firstNameOf(name: string | null | undefined): string | undefined {
  const first = name?.trim().split(/\s+/)[0];
  return first ? first : undefined;
}

/** A contact's variables (a Contact row has these fields), with `firstName` derived from `name`. */
export function contactVars(contact: { name: string; email?: string | null; phone?: string | null; timezone?: string | null }): TemplateVars {
  return { name: contact.name, firstName: firstNameOf(contact.name), email: contact.email, phone: contact.phone, timezone: contact.timezone };
}

/**
 * The template with every placeholder replaced. `firstName` is derived from `name` when not given. A variable with no
 * value (an email template naming {{phone}} for a contact without one) throws TemplateRenderError naming it, rather
 * than sending "Hi ,": that lead's message fails with the reason and the others go on.
 */
export function render(template: string, vars: TemplateVars): string {
  const { problem } = parseTemplate(template);
  if (problem) throw new TemplateRenderError(`template: ${problem}`, "");
  const values: TemplateVars = { ...vars, firstName: vars.firstName ?? firstNameOf(vars.name) };
  return template.replace(PLACEHOLDER, (_, name: string) => {
    if (!KNOWN.has(name)) {
      throw new TemplateRenderError(`template variable {{${name}}} does not exist; use one of ${TEMPLATE_VARIABLES.join(", ")}`, name);
    }
    const value = values[name as TemplateVariable];
    if (value === undefined || value === null || value === "") {
      throw new TemplateRenderError(`template variable {{${name}}} has no value for this contact`, name);
    }
    return value;
  });
}
