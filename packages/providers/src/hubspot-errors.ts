import { CrmPortalError, NotAcceptedError, PermanentProviderError } from "@nudge/core";
import { classifyIdempotentError, inspectError } from "./classify-error";
import { HubSpotRateLimitError, type HubSpotRatePolicy } from "./hubspot-rate-limit-error";

export const PROVIDER = "HubSpot";
export const SETUP_COMMAND = "nudge hubspot setup";
export const SCOPES_NEEDED = "crm.objects.contacts.read, crm.objects.contacts.write, crm.schemas.contacts.read and crm.schemas.contacts.write";

export type HubSpotFailure = CrmPortalError | PermanentProviderError | NotAcceptedError;

/** HubSpot's error JSON, as far as the SDK keeps it (it drops fields its error model lacks, such as policyName). */
interface HubSpotErrorBody {
  category?: string;
  message?: string;
  policyName?: string;
  errors?: Array<{ code?: string; message?: string; context?: Record<string, string[]> }>;
  context?: Record<string, string[]>;
}

function bodyOf(err: unknown): HubSpotErrorBody {
  const body = (err as { body?: unknown } | null)?.body;
  return typeof body === "object" && body !== null ? (body as HubSpotErrorBody) : {};
}

/** The properties a 400 VALIDATION_ERROR / PROPERTY_DOESNT_EXIST names (from `errors`, or the message's JSON list). */
export function missingPropertiesOf(body: HubSpotErrorBody): string[] {
  const names = new Set<string>();
  for (const detail of body.errors ?? []) {
    if (detail.code === "PROPERTY_DOESNT_EXIST") for (const name of detail.context?.propertyName ?? []) names.add(name);
  }
  if (names.size === 0 && body.message?.includes("PROPERTY_DOESNT_EXIST")) {
    for (const match of body.message.matchAll(/Property \\?"([^"\\]+)\\?" does not exist/g)) names.add(match[1]!);
    if (names.size === 0) names.add("(unnamed)");
  }
  return [...names];
}

function policyOf(body: HubSpotErrorBody): HubSpotRatePolicy {
  const text = `${body.policyName ?? ""} ${body.message ?? ""}`;
  if (/daily/i.test(text)) return "DAILY";
  if (/secondly/i.test(text)) return "TEN_SECONDLY_ROLLING";
  return "UNKNOWN";
}

export function msUntilNextUtcMidnight(now: number): number {
  const midnight = new Date(now);
  midnight.setUTCHours(24, 0, 0, 0);
  return midnight.getTime() - now;
}

function duration(ms: number): string {
  const minutes = Math.ceil(ms / 60_000);
  return minutes >= 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : ms >= 60_000 ? `${minutes} min` : `${Math.ceil(ms / 1000)} s`;
}

function rateLimited(err: unknown, body: HubSpotErrorBody, retryAfterHeaderMs: number | undefined, what: string, now: number): HubSpotRateLimitError {
  const policyName = policyOf(body);
  const said = body.message ?? "rate limited";
  if (policyName === "DAILY") {
    // HubSpot resets the daily count at midnight (in the portal's time zone; UTC is the safe side for most portals
    // and the simulator's): before then every request would be refused again, and cost a request of its own.
    const retryAfterMs = msUntilNextUtcMidnight(now);
    return new HubSpotRateLimitError(
      `HubSpot's DAILY request limit is used up (${what}: ${said}); CRM updates, and the sends that wait on them, are deferred until 00:00 UTC (in ${duration(retryAfterMs)})`,
      { policyName, retryAfterMs, cause: err },
    );
  }
  // A rolling 10 s window frees a slot within 10 s at most.
  const retryAfterMs = retryAfterHeaderMs ?? 10_000;
  return new HubSpotRateLimitError(
    `HubSpot's ${policyName} rate limit refused the request (${what}: ${said}); retry in ${retryAfterMs} ms. If this repeats, lower the shared limiter's requests per 10 s`,
    { policyName, retryAfterMs, cause: err },
  );
}

/**
 * What a failed HubSpot call means for Nudge:
 * - 401 (token) and 403 (scope), and a write naming a property the portal lacks: the whole portal refuses Nudge,
 *   a CrmPortalError naming the fix (the worker stops its intake rather than fail every job the same way);
 * - 429: HubSpotRateLimitError (a NotAcceptedError) with retryAfterMs: Retry-After, or for DAILY the next midnight;
 * - other 4xx but 408/409: PermanentProviderError with HubSpot's message (that contact's write is refused);
 * - 408, 409 (a conflict a concurrent write caused), 5xx, timeouts, resets: NotAcceptedError. Nudge's writes set
 *   absolute values and create by unique keys, so repeating one is harmless even when the first went through.
 */
export function classifyHubSpotError(err: unknown, what: string, now: number = Date.now()): HubSpotFailure {
  if (err instanceof CrmPortalError || err instanceof NotAcceptedError || err instanceof PermanentProviderError) return err;
  const facts = inspectError(err);
  const body = bodyOf(err);
  const said = `${facts.status ?? ""} ${body.category ?? ""}: ${body.message ?? facts.message}`.trim();
  if (facts.status === 401) {
    return new CrmPortalError(`HubSpot refused the access token (${what}: ${said}): set HUBSPOT_ACCESS_TOKEN to the private app's access token`, { status: 401, cause: err });
  }
  if (facts.status === 403) {
    const scopes = (body.errors ?? []).flatMap((e) => e.context?.requiredGranularScopes ?? []);
    const lacking = scopes.length > 0 ? `it lacks ${scopes.join(", ")}` : "a scope is missing";
    return new CrmPortalError(
      `HubSpot's private app may not do this (${what}: ${said}; ${lacking}): grant the app ${SCOPES_NEEDED} in HubSpot (Settings > Integrations > Private apps)`,
      { status: 403, cause: err },
    );
  }
  if (facts.status === 429) return rateLimited(err, body, facts.retryAfterMs, what, now);
  const missing = facts.status === 400 ? missingPropertiesOf(body) : [];
  if (missing.length > 0) {
    return new CrmPortalError(`HubSpot has no contact propert${missing.length > 1 ? "ies" : "y"} ${missing.join(", ")} (${what}): run \`${SETUP_COMMAND}\``, { status: 400, cause: err });
  }
  if (facts.status === 409) {
    return new NotAcceptedError(`HubSpot answered a conflict (${what}: ${said}); another write got there first: retry`, { status: 409, cause: err });
  }
  return classifyIdempotentError(err, `${PROVIDER} (${what})`);
}
