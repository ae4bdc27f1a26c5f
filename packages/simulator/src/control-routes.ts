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

/** `{"url": "..."}` or `{"url": null}`; undefined when the body is neither. */
function urlField(body: string): string | null | undefined {
  const value = (parseJson(body) as Record<string, unknown> | undefined)?.url;
  return value === null || (typeof value === "string" && value.length > 0) ? value : undefined;
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
 *   PUT         /__sim/list-lag           {"ms": 5000}  (Twilio lists leave out what is younger)
 *   POST        /__sim/unsubscribed       {"phone": "+15551234567"};  DELETE /__sim/unsubscribed/{phone}
 *   POST        /__sim/undeliverable      {"phone": "+15551234567"}  (as failDelivery)
 *   GET/PUT     /__sim/twilio/inbound-webhook {"url": "http://..." | null}
 *   POST        /__sim/inbound-sms        {"from": "+15551234567", "body": "STOP", "to"?: "+15005550006"}
 *                                          (answers {"status", "body"}: the receiver's answer; 502 if none)
 *   GET/PUT     /__sim/sendgrid/event-webhook {"url": "http://..." | null}  (answers {"url", "publicKey"})
 *   POST        /__sim/sendgrid/bounces   {"email": "gone@example.com"}
 *   PUT         /__sim/callback-chaos     {"duplicateRate": 0.1, "reorderRate": 0.1}  (omitted: 0)
 *   GET         /__sim/callback-stats     ({"posted", "duplicated", "reordered", "failed"})
 *   GET/PUT     /__sim/hubspot/settings   (PUT body: some HubSpotSettings fields, e.g. {"rejectUnknownProperties": false,
 *                                          "requestsPerTenSeconds": 190, "missingScopes": ["crm.objects.contacts.write"]})
 *   GET         /__sim/hubspot/usage      (requests answered; every 429 of the rate limits: when, which policy)
 *   GET/POST    /__sim/hubspot/contacts   (POST body: {"properties": {...}, "id"?: "123"} seeds a contact)
 *   GET/DELETE  /__sim/hubspot/contacts/{id}
 *   PUT         /__sim/hubspot/contacts/{id or email}/properties/{name} {"value": "opportunity"}  ("" or null clears;
 *                                          as setCrmContactProperty; answers the contact)
 *   POST        /__sim/hubspot/merge      {"primaryId": "1", "mergedId": "2"}
 *   POST        /__sim/hubspot/missing    {"id": "123"}  (deletes it, as DELETE /__sim/hubspot/contacts/{id})
 *   POST        /__sim/reset;  GET /__sim/health
 */
export async function handleControl(sim: Simulator, request: SimRequest): Promise<ControlReply> {
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
      case "PUT list-lag": {
        const ms = numberField(body, "ms");
        if (ms === undefined) return badRequest('body must be {"ms": <milliseconds>}');
        sim.setListLag(ms);
        return jsonReply(200, { listLagMs: ms });
      }
      case "POST unsubscribed": {
        const phone = stringField(body, "phone");
        if (phone === undefined) return badRequest('body must be {"phone": "+E164"}');
        sim.unsubscribe(phone);
        return jsonReply(201, { unsubscribed: phone });
      }
      case "POST undeliverable": {
        const phone = stringField(body, "phone");
        if (phone === undefined) return badRequest('body must be {"phone": "+E164"}');
        sim.failDelivery(phone);
        return jsonReply(201, { undeliverable: phone });
      }
      case "GET twilio/inbound-webhook":
        return jsonReply(200, sim.configureTwilioInbound());
      case "PUT twilio/inbound-webhook": {
        const url = urlField(body);
        if (url === undefined) return badRequest('body must be {"url": "http://..."} or {"url": null}');
        return jsonReply(200, sim.configureTwilioInbound({ url }));
      }
      case "POST inbound-sms": {
        const sms = parseJson(body) as { from?: unknown; body?: unknown; to?: unknown } | undefined;
        if (typeof sms?.from !== "string" || typeof sms.body !== "string" || (sms.to !== undefined && typeof sms.to !== "string")) {
          return badRequest('body must be {"from": "+E164", "body": "...", "to"?: "+E164"}');
        }
        let answer: { status: number; body: string };
        try {
          answer = await sim.receiveSms({ from: sms.from, body: sms.body, ...(sms.to !== undefined && { to: sms.to }) });
        } catch (err) {
          // The request was sound; the receiver (or its configuration) was not: a gateway's error, not the caller's.
          return jsonReply(502, { error: (err as Error).message });
        }
        return jsonReply(200, answer);
      }
      case "GET sendgrid/event-webhook":
        return jsonReply(200, sim.configureSendGridEvents());
      case "PUT sendgrid/event-webhook": {
        const url = urlField(body);
        if (url === undefined) return badRequest('body must be {"url": "http://..."} or {"url": null}');
        return jsonReply(200, sim.configureSendGridEvents({ url }));
      }
      case "POST sendgrid/bounces": {
        const email = stringField(body, "email");
        if (email === undefined) return badRequest('body must be {"email": "someone@example.com"}');
        sim.bounceEmail(email);
        return jsonReply(201, { bounces: email });
      }
      case "PUT callback-chaos": {
        const chaos = parseJson(body);
        if (typeof chaos !== "object" || chaos === null || Array.isArray(chaos)) return badRequest('body must be {"duplicateRate"?: 0..1, "reorderRate"?: 0..1}');
        return jsonReply(200, sim.setCallbackChaos(chaos));
      }
      case "GET callback-stats":
        return jsonReply(200, sim.callbackStats());
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
    const setProperty = method === "PUT" ? /^hubspot\/contacts\/([^/]+)\/properties\/([^/]+)$/.exec(path) : null;
    if (setProperty) {
      const value = (parseJson(body) as Record<string, unknown> | undefined)?.value;
      if (value !== null && typeof value !== "string") return badRequest('body must be {"value": "<the new value>"} ("" or null clears it)');
      const [idOrEmail, name] = [setProperty[1]!, setProperty[2]!].map(decodeURIComponent) as [string, string];
      return jsonReply(200, sim.setCrmContactProperty(idOrEmail, name, value ?? ""));
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
