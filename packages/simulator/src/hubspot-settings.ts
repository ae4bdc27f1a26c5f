import { SIMULATOR_HUBSPOT_TOKEN } from "./provider-env";

export const HUBSPOT_SCOPES = [
  "crm.objects.contacts.read",
  "crm.objects.contacts.write",
  "crm.schemas.contacts.read",
  "crm.schemas.contacts.write",
] as const;
export type HubSpotScope = (typeof HUBSPOT_SCOPES)[number];

/** How the simulated HubSpot portal behaves; every field can be changed at runtime (configureHubSpot, PUT /__sim/hubspot/settings). */
export interface HubSpotSettings {
  /** The private app token the portal accepts; any other bearer token answers 401. Default: the one simulatorProviderEnv hands out. */
  accessToken: string;
  /** A write naming a property the portal does not have answers 400 VALIDATION_ERROR / PROPERTY_DOESNT_EXIST, as HubSpot does. Default true. */
  rejectUnknownProperties: boolean;
  /** Scopes the private app was not granted: a request that needs one answers 403 MISSING_SCOPES. Default none. */
  missingScopes: HubSpotScope[];
  /** How long a write takes to reach the search index (HubSpot's search lags new and changed records). Default 0. */
  searchLagMs: number;
  /** Requests per rolling 10 s (per token) before 429 TEN_SECONDLY_ROLLING; null: no limit (the default). */
  requestsPerTenSeconds: number | null;
  /** Requests per UTC day (per token) before 429 DAILY; null: no limit (the default). */
  requestsPerDay: number | null;
}

export const DEFAULT_HUBSPOT_SETTINGS: HubSpotSettings = {
  accessToken: SIMULATOR_HUBSPOT_TOKEN,
  rejectUnknownProperties: true,
  missingScopes: [],
  searchLagMs: 0,
  requestsPerTenSeconds: null,
  requestsPerDay: null,
};

const limit = (field: string, value: unknown): number | null => {
  if (value === null) return null;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) throw new Error(`hubspot.${field} must be a positive integer or null, got ${JSON.stringify(value)}`);
  return value;
};

/** Checks a partial settings object (from a test or the control API) field by field, naming the first bad one. */
export function validateHubSpotSettings(value: unknown): Partial<HubSpotSettings> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("hubspot settings must be an object");
  const input = value as Record<string, unknown>;
  const out: Partial<HubSpotSettings> = {};
  for (const [key, field] of Object.entries(input)) {
    switch (key) {
      case "accessToken":
        if (typeof field !== "string" || field === "") throw new Error("hubspot.accessToken must be a non-empty string");
        out.accessToken = field;
        break;
      case "rejectUnknownProperties":
        if (typeof field !== "boolean") throw new Error("hubspot.rejectUnknownProperties must be true or false");
        out.rejectUnknownProperties = field;
        break;
      case "missingScopes":
        if (!Array.isArray(field) || field.some((s) => !(HUBSPOT_SCOPES as readonly unknown[]).includes(s))) {
          throw new Error(`hubspot.missingScopes must be a list of ${HUBSPOT_SCOPES.join(", ")}`);
        }
        out.missingScopes = [...(field as HubSpotScope[])];
        break;
      case "searchLagMs":
        if (typeof field !== "number" || !Number.isFinite(field) || field < 0) throw new Error("hubspot.searchLagMs must be a number >= 0");
        out.searchLagMs = field;
        break;
      case "requestsPerTenSeconds":
        out.requestsPerTenSeconds = limit(key, field);
        break;
      case "requestsPerDay":
        out.requestsPerDay = limit(key, field);
        break;
      default:
        throw new Error(`unknown hubspot setting "${key}" (known: ${Object.keys(DEFAULT_HUBSPOT_SETTINGS).join(", ")})`);
    }
  }
  return out;
}
