import { NotAcceptedError, type CrmReadiness } from "@nudge/core";
import type { PropertyCreate } from "@hubspot/api-client/lib/codegen/crm/properties";
import type { HubSpotApi } from "./hubspot-api";
import { SETUP_COMMAND } from "./hubspot-errors";
import { CONTACTS, NUDGE_PROPERTIES, NUDGE_PROPERTY_GROUP, propertyMismatch, type ExistingProperty } from "./hubspot-properties";

export type SetupOutcome = "created" | "exists" | "conflict";

export interface SetupItem {
  kind: "group" | "property";
  name: string;
  /** created now; exists (as Nudge needs it); conflict: exists in a shape Nudge cannot write, left unchanged. */
  outcome: SetupOutcome;
  /** For a conflict: what is wrong with it. */
  detail?: string;
}

export interface SetupReport {
  /** The group first, then each property, in NUDGE_PROPERTIES order. */
  items: SetupItem[];
  /** Whether this run created anything: a second run over a set-up portal changes nothing. */
  changed: boolean;
  /** Whether every property exists as Nudge needs it. */
  ok: boolean;
}

/**
 * Creates Nudge's property group and contact properties where missing. Idempotent: what exists is left as it is,
 * and a property that exists in another shape is reported, never overwritten (it may hold someone's data). Two
 * setups at once are harmless: a 409 for a creation is read as "exists" and the property compared.
 */
export async function setupNudgeProperties(api: HubSpotApi): Promise<SetupReport> {
  const items: SetupItem[] = [];
  const groups = await api.call("list property groups", (o) => api.properties.groups.getAll(CONTACTS, o));
  const group = NUDGE_PROPERTY_GROUP.name;
  if (groups.results.some((g) => g.name === group)) {
    items.push({ kind: "group", name: group, outcome: "exists" });
  } else {
    const created = await createdOrExists(() => api.call(`create property group ${group}`, (o) => api.properties.groups.create(CONTACTS, NUDGE_PROPERTY_GROUP, o)));
    items.push({ kind: "group", name: group, outcome: created ? "created" : "exists" });
  }

  const existing = new Map((await listProperties(api)).map((p) => [p.name, p]));
  for (const wanted of NUDGE_PROPERTIES) {
    let found: ExistingProperty | undefined = existing.get(wanted.name);
    if (!found) {
      const created = await createdOrExists(() => api.call(`create property ${wanted.name}`, (o) => api.properties.core.create(CONTACTS, wanted, o)));
      if (created) {
        items.push({ kind: "property", name: wanted.name, outcome: "created" });
        continue;
      }
      found = await api.call(`read property ${wanted.name}`, (o) => api.properties.core.getByName(CONTACTS, wanted.name, undefined, undefined, o));
    }
    items.push(compared(found, wanted));
  }
  return { items, changed: items.some((i) => i.outcome === "created"), ok: items.every((i) => i.outcome !== "conflict") };
}

/**
 * Whether every Nudge property exists as Nudge needs it, in one request (which also proves the token and the
 * schema scope). Not ready names the fix: the setup command, or what to change in the portal.
 */
export async function checkNudgeProperties(api: HubSpotApi): Promise<CrmReadiness> {
  const existing = new Map((await listProperties(api)).map((p) => [p.name, p]));
  const missing = NUDGE_PROPERTIES.filter((p) => !existing.has(p.name)).map((p) => p.name);
  if (missing.length > 0) {
    return { ready: false, reason: `HubSpot lacks Nudge's contact propert${missing.length > 1 ? "ies" : "y"} ${missing.join(", ")}: run \`${SETUP_COMMAND}\`` };
  }
  const conflicts = NUDGE_PROPERTIES.map((p) => compared(existing.get(p.name)!, p)).filter((i) => i.outcome === "conflict");
  if (conflicts.length > 0) {
    const what = conflicts.map((c) => `${c.name} ${c.detail}`).join("; ");
    return { ready: false, reason: `HubSpot's contact properties do not fit Nudge (${what}): rename or delete them in HubSpot, then run \`${SETUP_COMMAND}\`` };
  }
  return { ready: true };
}

async function listProperties(api: HubSpotApi): Promise<Array<ExistingProperty & { name: string }>> {
  return (await api.call("list contact properties", (o) => api.properties.core.getAll(CONTACTS, false, undefined, o))).results;
}

function compared(found: ExistingProperty, wanted: PropertyCreate): SetupItem {
  const detail = propertyMismatch(found, wanted);
  return detail ? { kind: "property", name: wanted.name, outcome: "conflict", detail } : { kind: "property", name: wanted.name, outcome: "exists" };
}

/** true once created; false when HubSpot says it exists already (409: another setup was quicker). */
async function createdOrExists(create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (err) {
    if (err instanceof NotAcceptedError && err.status === 409) return false;
    throw err;
  }
}
