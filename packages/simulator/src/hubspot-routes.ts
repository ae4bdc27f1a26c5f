import { bearerToken, parseJson, jsonReply, type ProviderRoute, type Reply, type SimRequest } from "./http-io";
import { ContactRoutes } from "./hubspot-contact-routes";
import { ContactStore, type CrmContact } from "./hubspot-contacts";
import { PropertyStore, SYSTEM_PROPERTIES } from "./hubspot-properties";
import { PropertyRoutes } from "./hubspot-property-routes";
import { HubSpotRateLimits, type HubSpotUsage } from "./hubspot-rate-limits";
import { hubSpotError, missingScopeReply, rateLimitReply, unauthorizedReply } from "./hubspot-replies";
import { DEFAULT_HUBSPOT_SETTINGS, validateHubSpotSettings, type HubSpotScope, type HubSpotSettings } from "./hubspot-settings";
import type { RequestRecord } from "./request-record";

export type { CrmContact } from "./hubspot-contacts";

interface Endpoint {
  method: string;
  path: RegExp;
  scope: HubSpotScope;
  handle: (request: SimRequest, params: string[], body: unknown) => Reply;
}

const OBJECT = "(?:contacts|0-1)";

/**
 * A HubSpot portal as a private app sees it. Every request passes, in HubSpot's order: the token (401), the rate
 * limits (429 with the policy and Retry-After), the route, the app's scopes (403). Then the properties API and the
 * contacts API answer from the portal's state, which starts with HubSpot's built-in contact properties and no
 * contacts. Everything the portal accepted (contact writes, created groups and properties) goes into the record.
 */
export class HubSpotRoutes {
  private readonly properties = new PropertyStore();
  private readonly contacts: ContactStore;
  private readonly limits: HubSpotRateLimits;
  private readonly endpoints: Endpoint[];
  private readonly initial: HubSpotSettings;
  private current: HubSpotSettings;

  constructor(private readonly deps: { records: RequestRecord; settings?: Partial<HubSpotSettings> }) {
    this.initial = { ...DEFAULT_HUBSPOT_SETTINGS, ...validateHubSpotSettings(deps.settings ?? {}) };
    this.current = { ...this.initial };
    this.contacts = new ContactStore({ uniqueNames: () => this.properties.uniqueNames(), searchLagMs: () => this.current.searchLagMs });
    this.limits = new HubSpotRateLimits(() => ({ perTenSeconds: this.current.requestsPerTenSeconds, perDay: this.current.requestsPerDay }));
    const contactRoutes = new ContactRoutes({
      contacts: this.contacts,
      properties: this.properties,
      records: deps.records,
      rejectUnknownProperties: () => this.current.rejectUnknownProperties,
    });
    const propertyRoutes = new PropertyRoutes({ properties: this.properties, records: deps.records });
    const read = "crm.objects.contacts.read";
    const write = "crm.objects.contacts.write";
    const schemaRead = "crm.schemas.contacts.read";
    const schemaWrite = "crm.schemas.contacts.write";
    const at = (path: string) => new RegExp(`^/crm/v3/${path}$`);
    this.endpoints = [
      { method: "GET", path: at(`properties/${OBJECT}/groups`), scope: schemaRead, handle: () => propertyRoutes.listGroups() },
      { method: "POST", path: at(`properties/${OBJECT}/groups`), scope: schemaWrite, handle: (_r, _p, body) => propertyRoutes.createGroup(body) },
      { method: "GET", path: at(`properties/${OBJECT}/groups/([^/]+)`), scope: schemaRead, handle: (_r, [name]) => propertyRoutes.readGroup(name!) },
      { method: "GET", path: at(`properties/${OBJECT}`), scope: schemaRead, handle: () => propertyRoutes.list() },
      { method: "POST", path: at(`properties/${OBJECT}`), scope: schemaWrite, handle: (_r, _p, body) => propertyRoutes.create(body) },
      { method: "GET", path: at(`properties/${OBJECT}/([^/]+)`), scope: schemaRead, handle: (_r, [name]) => propertyRoutes.read(name!) },
      { method: "POST", path: at(`objects/${OBJECT}`), scope: write, handle: (_r, _p, body) => contactRoutes.create(body) },
      { method: "POST", path: at(`objects/${OBJECT}/batch/read`), scope: read, handle: (_r, _p, body) => contactRoutes.batchRead(body) },
      { method: "POST", path: at(`objects/${OBJECT}/batch/create`), scope: write, handle: (_r, _p, body) => contactRoutes.batchCreate(body) },
      { method: "POST", path: at(`objects/${OBJECT}/batch/update`), scope: write, handle: (_r, _p, body) => contactRoutes.batchUpdate(body) },
      { method: "POST", path: at(`objects/${OBJECT}/batch/upsert`), scope: write, handle: (_r, _p, body) => contactRoutes.batchUpsert(body) },
      { method: "POST", path: at(`objects/${OBJECT}/search`), scope: read, handle: (_r, _p, body) => contactRoutes.search(body) },
      { method: "GET", path: at(`objects/${OBJECT}/([^/]+)`), scope: read, handle: (r, [id]) => contactRoutes.read(id!, r.query) },
      { method: "PATCH", path: at(`objects/${OBJECT}/([^/]+)`), scope: write, handle: (r, [id], body) => contactRoutes.update(id!, r.query, body) },
    ];
  }

  route(method: string, pathname: string): ProviderRoute | undefined {
    if (!pathname.startsWith("/crm/")) return undefined;
    return { provider: "hubspot", handle: (request) => this.handle(method, pathname, request) };
  }

  /** Changes settings from now on (validated; unknown or malformed fields throw) and returns them all. */
  configure(patch: unknown = {}): HubSpotSettings {
    this.current = { ...this.current, ...validateHubSpotSettings(patch) };
    return this.settings();
  }

  settings(): HubSpotSettings {
    return { ...this.current, missingScopes: [...this.current.missingScopes] };
  }

  usage(): HubSpotUsage {
    return this.limits.usageReport();
  }

  contact(id: string): CrmContact | undefined {
    return this.contacts.get(id);
  }

  listContacts(): CrmContact[] {
    return this.contacts.list();
  }

  /**
   * Puts a contact in the portal as if someone had entered it: no request, no record, no property checks (a test
   * may seed values of properties that do not exist yet); unique values are still enforced. `id` defaults to the next free one.
   */
  seedContact(properties: Record<string, string>, id?: string): CrmContact {
    const values = Object.fromEntries(Object.entries(properties).filter(([name]) => !SYSTEM_PROPERTIES.has(name)));
    return this.contacts.create(values, id);
  }

  /**
   * Sets one property of an existing contact as someone in HubSpot's UI would (sales moving its lifecycle stage): no
   * request, no record. The contact is named by id, or by email (a merged-away email finds the contact it went into).
   * Unlike seedContact, the value is checked as the UI checks it: the property must exist, be writable and take the
   * value (an option of an enumeration, a unique value no other contact holds); "" clears it.
   */
  setContactProperty(idOrEmail: string, name: string, value: string): CrmContact {
    const byEmail = idOrEmail.includes("@");
    const contact = byEmail ? this.contacts.findBy("email", idOrEmail) : this.contacts.get(idOrEmail);
    if (!contact) throw new Error(`the HubSpot portal has no contact with ${byEmail ? "email" : "id"} ${idOrEmail}`);
    const refused = this.properties.validateValues({ [name]: value }, true)[0];
    if (refused) throw new Error(`HubSpot would not set ${name} to ${JSON.stringify(value)}: ${refused.message}`);
    const conflict = this.contacts.conflicts([{ id: contact.id, values: { [name]: value } }])[0];
    if (conflict) throw new Error(`HubSpot would not set ${name} to ${JSON.stringify(value)}: contact ${conflict.holder} holds that value`);
    return this.contacts.update(contact.id, { [name]: value });
  }

  /** Deletes a contact: its id answers 404 from now on and its email and unique values are free again. */
  deleteContact(id: string): boolean {
    return this.contacts.delete(id);
  }

  mergeContacts(primaryId: string, mergedId: string): CrmContact {
    return this.contacts.merge(primaryId, mergedId);
  }

  reset(): void {
    this.contacts.reset();
    this.properties.reset();
    this.limits.reset();
    this.current = { ...this.initial };
  }

  private handle(method: string, pathname: string, request: SimRequest): Reply {
    const token = bearerToken(request.headers);
    if (token !== this.current.accessToken) return unauthorizedReply();
    const verdict = this.limits.check(token);
    if (!verdict.allowed) return rateLimitReply(verdict.policyName, verdict.retryAfterSeconds, verdict.headers);
    const reply = this.dispatch(method, pathname, request);
    return { ...reply, headers: { ...reply.headers, ...verdict.headers } };
  }

  private dispatch(method: string, pathname: string, request: SimRequest): Reply {
    let pathMatched = false;
    for (const endpoint of this.endpoints) {
      const match = endpoint.path.exec(pathname);
      if (!match) continue;
      pathMatched = true;
      if (endpoint.method !== method) continue;
      if (this.current.missingScopes.includes(endpoint.scope)) return missingScopeReply(endpoint.scope);
      const body = method === "GET" ? undefined : parseJson(request.body);
      if (method !== "GET" && body === undefined) return hubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: the body is not JSON.");
      return endpoint.handle(request, match.slice(1).map(decodeURIComponent), body);
    }
    if (pathMatched) return hubSpotError(405, "VALIDATION_ERROR", `Method ${method} not allowed on ${pathname}.`);
    return jsonReply(404, { status: "error", message: `the simulator has no HubSpot route for ${method} ${pathname}`, category: "OBJECT_NOT_FOUND" });
  }
}
