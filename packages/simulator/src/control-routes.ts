import { jsonReply, parseJson, type Reply, type SimRequest } from "./http-io";
import { parseRecordFilter } from "./request-record";
import type { Fault } from "./fault-injector";
import type { Simulator } from "./simulator";

export const CONTROL_PREFIX = "/__sim/";

/** A control answer, and what to do once it has been written (refusing connections must not cut its own answer). */
export interface ControlReply extends Reply {
  afterReply?: () => void;
}

const noContent: Reply = { status: 204 };

function badRequest(message: string): Reply {
  return jsonReply(400, { error: message });
}

function numberField(body: string, field: string): number | undefined {
  const value = (parseJson(body) as Record<string, unknown> | undefined)?.[field];
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function stringField(body: string, field: string): string | undefined {
  const value = (parseJson(body) as Record<string, unknown> | undefined)?.[field];
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/**
 * The simulator's own HTTP API, for tests in other processes and the demo:
 *   GET/DELETE  /__sim/records            (GET filters: provider, to, deliveryId, afterSeq)
 *   POST/DELETE /__sim/faults             (POST body: a fault or an array of faults)
 *   POST        /__sim/refuse-connections {"ms": 2000}
 *   PUT         /__sim/latency            {"ms": 200}
 *   POST        /__sim/unsubscribed       {"phone": "+15551234567"};  DELETE /__sim/unsubscribed/{phone}
 *   GET/PUT     /__sim/hubspot/settings   (PUT body: some HubSpotSettings fields, e.g. {"rejectUnknownProperties": false,
 *                                          "requestsPerTenSeconds": 190, "missingScopes": ["crm.objects.contacts.write"]})
 *   GET         /__sim/hubspot/usage      (requests answered; every 429 of the rate limits: when, which policy)
 *   GET/POST    /__sim/hubspot/contacts   (POST body: {"properties": {...}, "id"?: "123"} seeds a contact)
 *   GET/DELETE  /__sim/hubspot/contacts/{id}
 *   POST        /__sim/hubspot/merge      {"primaryId": "1", "mergedId": "2"}
 *   POST        /__sim/hubspot/missing    {"id": "123"}  (deletes it, as DELETE /__sim/hubspot/contacts/{id})
 *   POST        /__sim/reset;  GET /__sim/health
 */
export function handleControl(sim: Simulator, request: SimRequest): ControlReply {
  const { method, pathname, body } = request;
  const path = pathname.slice(CONTROL_PREFIX.length);
  const route = `${method} ${path}`;
  try {
    switch (route) {
      case "GET health":
        return jsonReply(200, { ok: true, url: sim.url });
      case "GET records":
        return jsonReply(200, { records: sim.records(parseRecordFilter(request.query)) });
      case "DELETE records":
        sim.clearRecords();
        return noContent;
      case "POST faults": {
        const parsed = parseJson(body);
        const faults = (Array.isArray(parsed) ? parsed : [parsed]) as Fault[];
        sim.injectFault(faults);
        return jsonReply(201, { injected: faults.length });
      }
      case "DELETE faults":
        sim.clearFaults();
        return noContent;
      case "POST refuse-connections": {
        const ms = numberField(body, "ms");
        if (ms === undefined) return badRequest('body must be {"ms": <milliseconds>}');
        return { ...jsonReply(202, { refusingForMs: ms }), afterReply: () => void sim.refuseConnections(ms) };
      }
      case "PUT latency": {
        const ms = numberField(body, "ms");
        if (ms === undefined) return badRequest('body must be {"ms": <milliseconds>}');
        sim.setLatency(ms);
        return jsonReply(200, { latencyMs: ms });
      }
      case "POST unsubscribed": {
        const phone = stringField(body, "phone");
        if (phone === undefined) return badRequest('body must be {"phone": "+E164"}');
        sim.unsubscribe(phone);
        return jsonReply(201, { unsubscribed: phone });
      }
      case "GET hubspot/settings":
        return jsonReply(200, sim.configureHubSpot());
      case "PUT hubspot/settings":
        return jsonReply(200, sim.configureHubSpot(parseJson(body) as Record<string, unknown>));
      case "GET hubspot/usage":
        return jsonReply(200, sim.hubSpotUsage());
      case "GET hubspot/contacts":
        return jsonReply(200, { results: sim.crmContacts() });
      case "POST hubspot/contacts": {
        const parsed = parseJson(body) as { properties?: unknown; id?: unknown } | undefined;
        const properties = parsed?.properties;
        if (typeof properties !== "object" || properties === null || Array.isArray(properties)) return badRequest('body must be {"properties": {...}, "id"?: "<contact id>"}');
        const id = typeof parsed?.id === "string" || typeof parsed?.id === "number" ? String(parsed.id) : undefined;
        const values = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, v === null ? "" : String(v)]));
        return jsonReply(201, sim.seedCrmContact(values, id));
      }
      case "POST hubspot/merge": {
        const primaryId = stringField(body, "primaryId");
        const mergedId = stringField(body, "mergedId");
        if (primaryId === undefined || mergedId === undefined) return badRequest('body must be {"primaryId": "<id>", "mergedId": "<id>"}');
        return jsonReply(200, sim.mergeCrmContacts(primaryId, mergedId));
      }
      case "POST hubspot/missing": {
        const id = stringField(body, "id");
        if (id === undefined) return badRequest('body must be {"id": "<contact id>"}');
        sim.markContactMissing(id);
        return jsonReply(201, { missing: id });
      }
      case "POST reset":
        sim.reset();
        return noContent;
    }
    if (method === "DELETE" && path.startsWith("unsubscribed/")) {
      sim.resubscribe(decodeURIComponent(path.slice("unsubscribed/".length)));
      return noContent;
    }
    if (method === "GET" && path.startsWith("hubspot/contacts/")) {
      const contact = sim.crmContact(decodeURIComponent(path.slice("hubspot/contacts/".length)));
      return contact ? jsonReply(200, contact) : jsonReply(404, { error: "no such contact" });
    }
    if (method === "DELETE" && path.startsWith("hubspot/contacts/")) {
      return sim.deleteCrmContact(decodeURIComponent(path.slice("hubspot/contacts/".length))) ? noContent : jsonReply(404, { error: "no such contact" });
    }
    return jsonReply(404, { error: `no simulator control route ${method} ${pathname}` });
  } catch (err) {
    return badRequest((err as Error).message);
  }
}
