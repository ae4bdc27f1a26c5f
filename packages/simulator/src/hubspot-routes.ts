import { randomUUID } from "node:crypto";
import { jsonReply, bearerToken, parseJson, type ProviderRoute, type Reply } from "./http-io";
import type { RequestRecord } from "./request-record";

const PATH = /^\/crm\/v3\/objects\/contacts\/([^/]+)$/;

export interface CrmContact {
  id: string;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** HubSpot's error JSON. Every HubSpot answer carries Content-Type: application/json: the SDK cannot parse without it. */
export function hubSpotError(status: number, category: string, message: string, extra: Record<string, unknown> = {}): Reply {
  return jsonReply(status, { status: "error", message, correlationId: randomUUID(), category, ...extra });
}

export function hubSpotFaultReply(status: 500 | 429, retryAfterSeconds: number): Reply {
  if (status === 429) {
    const reply = hubSpotError(429, "RATE_LIMITS", "You have reached your secondly limit.", { errorType: "RATE_LIMIT", policyName: "SECONDLY" });
    return { ...reply, headers: { ...reply.headers, "Retry-After": String(retryAfterSeconds) } };
  }
  return hubSpotError(500, "INTERNAL_ERROR", "internal error");
}

/**
 * HubSpot CRM v3 contacts: PATCH merges properties (absolute values), GET reads them back. Unknown ids are created on
 * PATCH (a simulator convenience) unless marked missing, which answers 404 like HubSpot does for a deleted contact.
 */
export class HubSpotRoutes {
  private readonly contacts = new Map<string, CrmContact>();
  private readonly missing = new Set<string>();

  constructor(private readonly deps: { records: RequestRecord }) {}

  route(method: string, pathname: string): ProviderRoute | undefined {
    if (!pathname.startsWith("/crm/")) return undefined;
    const match = PATH.exec(pathname);
    return {
      provider: "hubspot",
      handle: (request) => {
        if (!bearerToken(request.headers)) {
          return hubSpotError(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.");
        }
        if (!match) return hubSpotError(404, "OBJECT_NOT_FOUND", `No route for ${method} ${pathname} in the simulator.`);
        const id = decodeURIComponent(match[1]!);
        if (method === "GET") return this.read(id);
        if (method === "PATCH") return this.update(id, request.body);
        return hubSpotError(405, "VALIDATION_ERROR", `Method ${method} not allowed.`);
      },
    };
  }

  contact(id: string): CrmContact | undefined {
    const contact = this.contacts.get(id);
    return contact && { ...contact, properties: { ...contact.properties } };
  }

  markMissing(id: string): void {
    this.missing.add(id);
    this.contacts.delete(id);
  }

  reset(): void {
    this.contacts.clear();
    this.missing.clear();
  }

  private read(id: string): Reply {
    const contact = this.contacts.get(id);
    if (!contact || this.missing.has(id)) return notFound(id);
    return jsonReply(200, { ...contact, archived: false });
  }

  private update(id: string, body: string): Reply {
    if (this.missing.has(id)) return notFound(id);
    const parsed = parseJson(body) as { properties?: unknown } | undefined;
    const properties = parsed?.properties;
    if (typeof properties !== "object" || properties === null || Array.isArray(properties)) {
      return hubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object with a \"properties\" object.");
    }
    const values: Record<string, string> = {};
    for (const [key, value] of Object.entries(properties)) {
      values[key] = value === null ? "" : String(value);
    }
    const now = new Date().toISOString();
    const existing = this.contacts.get(id);
    const contact: CrmContact = {
      id,
      properties: { ...existing?.properties, ...values, hs_object_id: id, lastmodifieddate: now, createdate: existing?.createdAt ?? now },
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    this.contacts.set(id, contact);
    this.deps.records.add({ provider: "hubspot", id, to: id, body: JSON.stringify(values), properties: values });
    return jsonReply(200, { ...contact, archived: false });
  }
}

function notFound(id: string): Reply {
  return hubSpotError(404, "OBJECT_NOT_FOUND", `resource not found: contact ${id}`);
}
