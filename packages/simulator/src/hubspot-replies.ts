import { randomUUID } from "node:crypto";
import type { FaultStatus } from "./fault-injector";
import { jsonReply, type Reply } from "./http-io";

/**
 * HubSpot's error JSON. Every HubSpot answer carries Content-Type: application/json: the SDK cannot parse without it.
 * Note that the SDK keeps only the fields its error model knows (category, message, errors, context, links,
 * subCategory, correlationId): anything else a client needs, such as a rate limit's policy, must also be readable
 * from the message, as it is in HubSpot's own answers.
 */
export function hubSpotError(status: number, category: string, message: string, extra: Record<string, unknown> = {}): Reply {
  return jsonReply(status, { status: "error", message, correlationId: randomUUID(), category, ...extra });
}

export type RateLimitPolicy = "TEN_SECONDLY_ROLLING" | "DAILY";

/** HubSpot's 429, with the policy in the body (and in the message, worded as HubSpot does) and a Retry-After. */
export function rateLimitReply(policyName: RateLimitPolicy, retryAfterSeconds: number, headers: Record<string, string> = {}): Reply {
  const reply = hubSpotError(429, "RATE_LIMITS", `You have reached your ${policyName === "DAILY" ? "daily" : "ten_secondly_rolling"} limit.`, {
    errorType: "RATE_LIMIT",
    policyName,
  });
  return { ...reply, headers: { ...reply.headers, ...headers, "Retry-After": String(Math.max(0, Math.ceil(retryAfterSeconds))) } };
}

export function hubSpotFaultReply(status: 429 | FaultStatus, retryAfterSeconds: number): Reply {
  if (status === 429) return rateLimitReply("TEN_SECONDLY_ROLLING", retryAfterSeconds);
  return hubSpotError(status, "INTERNAL_ERROR", "internal error");
}

export function contactNotFound(id: string): Reply {
  return hubSpotError(404, "OBJECT_NOT_FOUND", `resource not found: contact ${id}`);
}

export function invalidInput(message: string): Reply {
  return hubSpotError(400, "VALIDATION_ERROR", `Invalid input JSON on line 1: ${message}`);
}

/** One property value HubSpot refused, in the shape its "Property values were not valid" answer lists them. */
export interface PropertyValueError {
  name: string;
  /** PROPERTY_DOESNT_EXIST, INVALID_OPTION, INVALID_INTEGER, INVALID_DATE, INVALID_BOOLEAN, READ_ONLY_VALUE */
  error: string;
  message: string;
}

/**
 * HubSpot's 400 for refused property values: the message embeds the list as JSON, and `errors` carries one entry per
 * value with its code and the property's name.
 */
export function propertyValuesReply(errors: PropertyValueError[]): Reply {
  const listed = errors.map((e) => ({ isValid: false, message: e.message, error: e.error, name: e.name, localizedErrorMessage: e.message }));
  return hubSpotError(400, "VALIDATION_ERROR", `Property values were not valid: ${JSON.stringify(listed)}`, {
    errors: errors.map((e) => ({ message: e.message, code: e.error, context: { propertyName: [e.name] } })),
  });
}

export function missingScopeReply(scope: string): Reply {
  return hubSpotError(
    403,
    "MISSING_SCOPES",
    "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
    {
      errors: [{ message: "One or more of the following scopes are required.", context: { requiredGranularScopes: [scope] } }],
      links: { scopes: "https://developers.hubspot.com/scopes" },
    },
  );
}

export function unauthorizedReply(): Reply {
  return hubSpotError(
    401,
    "INVALID_AUTHENTICATION",
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
  );
}
