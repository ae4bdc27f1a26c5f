import { randomBytes } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { FaultStatus } from "./fault-injector";
import { basicCredentials, jsonReply, type ProviderRoute, type Reply, type SimRequest } from "./http-io";
import type { RequestRecord } from "./request-record";
import type { CallbackStep, StatusCallbacks } from "./status-callbacks";
import { twilioWebhook } from "./twilio-signature";

export const API_VERSION = "2010-04-01";
const PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/(Messages|Calls)(?:\/([^/]+))?\.json$/;
export const E164 = /^\+[1-9]\d{1,14}$/;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

type Resource = Record<string, unknown> & { sid: string; account_sid: string; to: string; from: string };

export interface TwilioRoutesDeps {
  records: RequestRecord;
  callbacks: StatusCallbacks;
  unsubscribed: ReadonlySet<string>;
  /** Numbers whose messages end `undelivered` and whose calls end `no-answer`. */
  undeliverable: ReadonlySet<string>;
  /** Lists leave out what was created less than this long ago. */
  listLagMs: () => number;
  authToken: () => string;
}

/** A message Twilio received for one of the account's numbers. */
export interface InboundMessage {
  accountSid: string;
  from: string;
  to: string;
  body: string;
}

/** The call statuses a StatusCallbackEvent can ask for, by the names the parameter uses. */
const CALL_EVENTS: Record<string, string> = { initiated: "initiated", ringing: "ringing", answered: "in-progress", completed: "completed" };

export function twilioError(status: number, code: number, message: string): Reply {
  return jsonReply(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
}

/** A 429, or a 5xx in Twilio's error shape (20500 for every 5xx, so that a client parses them all alike). */
export function twilioFaultReply(status: 429 | FaultStatus, retryAfterSeconds: number): Reply {
  if (status === 429) {
    const reply = twilioError(429, 20429, "Too Many Requests");
    return { ...reply, headers: { ...reply.headers, "Retry-After": String(retryAfterSeconds) } };
  }
  return twilioError(status, 20500, STATUS_CODES[status] ?? "Internal Server Error");
}

/** Twilio's RFC 2822 form: "Thu, 30 Jul 2015 20:12:31 +0000" (the SDK parses exactly this). */
function rfc2822(date: Date): string {
  return date.toUTCString().replace("GMT", "+0000");
}

function newSid(prefix: string): string {
  return prefix + randomBytes(16).toString("hex");
}

/** The delivery id travels as a `deliveryId` query parameter of the StatusCallback URL. */
function withDeliveryId(statusCallback: string | undefined): { deliveryId?: string } {
  if (!statusCallback) return {};
  try {
    const deliveryId = new URL(statusCallback).searchParams.get("deliveryId");
    return deliveryId === null ? {} : { deliveryId };
  } catch {
    return {};
  }
}

/**
 * Twilio's 2010-04-01 Messages and Calls: create (form-encoded), fetch, and list with Twilio's page envelope and its
 * `To`, `From`, `DateSent>`/`DateSent<` and `StartTime>`/`StartTime<` filters. The simulator "sends" at once, so
 * date_sent and start_time equal the creation time. A message goes queued -> sent -> delivered (or undelivered,
 * 30003), a call queued -> initiated -> ringing -> in-progress -> completed (or no-answer), each step a status
 * callback; a list lags `listLagMs` behind, as Twilio's does, while fetch by sid sees a resource at once.
 */
export class TwilioRoutes {
  private readonly messages: Resource[] = [];
  private readonly calls: Resource[] = [];
  private readonly bySid = new Map<string, Resource>();

  constructor(private readonly deps: TwilioRoutesDeps) {}

  route(method: string, pathname: string): ProviderRoute | undefined {
    const match = PATH.exec(pathname);
    if (!match) return undefined;
    const [, accountSid, collection, sid] = match as unknown as [string, string, "Messages" | "Calls", string | undefined];
    const provider = collection === "Messages" ? "twilio-sms" : "twilio-voice";
    return {
      provider,
      handle: (request) => {
        const denied = this.authenticate(request, accountSid);
        if (denied) return denied;
        if (sid !== undefined) {
          if (method !== "GET") return twilioError(405, 20004, "Method not allowed");
          return this.fetch(request, sid);
        }
        if (method === "GET") return this.list(request, accountSid, collection);
        if (method !== "POST") return twilioError(405, 20004, "Method not allowed");
        const params = new URLSearchParams(request.body);
        return collection === "Messages" ? this.createMessage(accountSid, params) : this.createCall(accountSid, params);
      },
    };
  }

  reset(): void {
    this.messages.length = 0;
    this.calls.length = 0;
    this.bySid.clear();
  }

  private authenticate(request: SimRequest, accountSid: string): Reply | undefined {
    const credentials = basicCredentials(request.headers);
    if (!credentials || credentials.username !== accountSid || credentials.password !== this.deps.authToken()) {
      return twilioError(401, 20003, "Authenticate (the simulator checks AccountSid:AuthToken against its twilioAuthToken)");
    }
    return undefined;
  }

  private validateRecipient(to: string | null, from: string | null, fromAlternative: string | null): Reply | undefined {
    if (!to) return twilioError(400, 21604, "A 'To' phone number is required.");
    if (!E164.test(to)) return twilioError(400, 21211, `Invalid 'To' Phone Number: ${to}`);
    if (!from && !fromAlternative) return twilioError(400, 21603, "A 'From' phone number is required.");
    // Real Twilio enforces STOP for messaging only; the simulator applies it to calls too, so that a test can
    // exercise the permanent-rejection path of either channel.
    if (this.deps.unsubscribed.has(to)) return twilioError(400, 21610, "Attempt to send to unsubscribed recipient");
    return undefined;
  }

  private createMessage(accountSid: string, params: URLSearchParams): Reply {
    const to = params.get("To");
    const from = params.get("From");
    const invalid = this.validateRecipient(to, from, params.get("MessagingServiceSid"));
    if (invalid) return invalid;
    const body = params.get("Body");
    if (!body && !params.get("MediaUrl") && !params.get("ContentSid")) {
      return twilioError(400, 21602, "Message body is required.");
    }
    const now = new Date();
    const sid = newSid("SM");
    const uri = `/${API_VERSION}/Accounts/${accountSid}/Messages/${sid}.json`;
    const message: Resource = {
      account_sid: accountSid,
      api_version: API_VERSION,
      body: body ?? "",
      date_created: rfc2822(now),
      date_sent: rfc2822(now),
      date_updated: rfc2822(now),
      direction: "outbound-api",
      error_code: null,
      error_message: null,
      from: from ?? "",
      messaging_service_sid: params.get("MessagingServiceSid"),
      num_media: "0",
      num_segments: "1",
      price: null,
      price_unit: "USD",
      sid,
      status: "queued",
      subresource_uris: { media: `/${API_VERSION}/Accounts/${accountSid}/Messages/${sid}/Media.json` },
      to: to!,
      uri,
    };
    const statusCallback = params.get("StatusCallback") ?? undefined;
    const reply = jsonReply(201, message);
    this.store(this.messages, message, now);
    this.deps.records.add({
      provider: "twilio-sms",
      id: sid,
      to: to!,
      body: body ?? "",
      ...withDeliveryId(statusCallback),
    });
    const base = {
      AccountSid: accountSid,
      ApiVersion: API_VERSION,
      From: message.from,
      MessageSid: sid,
      SmsSid: sid,
      To: message.to,
      ...(message.messaging_service_sid !== null && { MessagingServiceSid: String(message.messaging_service_sid) }),
    };
    const undelivered = this.deps.undeliverable.has(message.to);
    const steps: CallbackStep[] = ["sent", undelivered ? "undelivered" : "delivered"].map((status) => ({
      apply: () => {
        message.status = status;
        message.date_updated = rfc2822(new Date());
        if (status === "undelivered") {
          message.error_code = 30003;
          message.error_message = "Unreachable destination handset";
        }
      },
      request: (url) =>
        twilioWebhook(this.deps.authToken(), url, {
          ...base,
          MessageStatus: status,
          SmsStatus: status,
          ...(status === "undelivered" && { ErrorCode: "30003" }),
        }),
    }));
    this.deps.callbacks.schedule(statusCallback, steps);
    return reply;
  }

  private createCall(accountSid: string, params: URLSearchParams): Reply {
    const to = params.get("To");
    const from = params.get("From");
    const invalid = this.validateRecipient(to, from, params.get("ApplicationSid"));
    if (invalid) return invalid;
    const twiml = params.get("Twiml");
    const url = params.get("Url");
    if (!twiml && !url && !params.get("ApplicationSid")) {
      return twilioError(400, 21205, "Either a 'Url', 'Twiml' or 'ApplicationSid' parameter is required.");
    }
    const now = new Date();
    const sid = newSid("CA");
    const call: Resource = {
      account_sid: accountSid,
      annotation: null,
      answered_by: null,
      api_version: API_VERSION,
      caller_name: null,
      date_created: rfc2822(now),
      date_updated: rfc2822(now),
      direction: "outbound-api",
      duration: null,
      end_time: null,
      forwarded_from: null,
      from: from ?? "",
      from_formatted: from ?? "",
      group_sid: null,
      parent_call_sid: null,
      phone_number_sid: null,
      price: null,
      price_unit: "USD",
      queue_time: "0",
      sid,
      start_time: rfc2822(now),
      status: "queued",
      subresource_uris: {
        notifications: `/${API_VERSION}/Accounts/${accountSid}/Calls/${sid}/Notifications.json`,
        recordings: `/${API_VERSION}/Accounts/${accountSid}/Calls/${sid}/Recordings.json`,
      },
      to: to!,
      to_formatted: to!,
      trunk_sid: null,
      uri: `/${API_VERSION}/Accounts/${accountSid}/Calls/${sid}.json`,
    };
    const statusCallback = params.get("StatusCallback") ?? undefined;
    const reply = jsonReply(201, call);
    this.store(this.calls, call, now);
    this.deps.records.add({
      provider: "twilio-voice",
      id: sid,
      to: to!,
      body: twiml ?? url ?? "",
      ...withDeliveryId(statusCallback),
    });
    this.deps.callbacks.schedule(statusCallback, this.callSteps(call, requestedCallEvents(params)));
    return reply;
  }

  /**
   * The call's walk, each step a status callback if StatusCallbackEvent asked for it (Twilio's default: only the end).
   * The end (completed, or no-answer for an undeliverable number) is always posted. SequenceNumber counts the
   * callbacks of the call from 0, as Twilio's does, so that a receiver can tell when they arrive out of order.
   */
  private callSteps(call: Resource, requested: ReadonlySet<string>): CallbackStep[] {
    const end = this.deps.undeliverable.has(call.to) ? "no-answer" : "completed";
    const duration = end === "completed" ? "7" : "0";
    let sequence = 0;
    return ["initiated", "ringing", ...(end === "completed" ? ["in-progress"] : []), end].map((status) => {
      const final = status === end;
      const step: CallbackStep = {
        apply: () => {
          call.status = status;
          call.date_updated = rfc2822(new Date());
          if (!final) return;
          call.duration = duration;
          call.end_time = call.date_updated;
        },
      };
      if (!final && !requested.has(status)) return step;
      const sequenceNumber = String(sequence++);
      step.request = (url) =>
        twilioWebhook(this.deps.authToken(), url, {
          AccountSid: call.account_sid,
          ApiVersion: API_VERSION,
          CallSid: call.sid,
          CallStatus: status,
          CallbackSource: "call-progress-events",
          Called: call.to,
          Caller: call.from,
          Direction: "outbound-api",
          From: call.from,
          SequenceNumber: sequenceNumber,
          Timestamp: rfc2822(new Date()),
          To: call.to,
          ...(final && { CallDuration: duration }),
        });
      return step;
    });
  }

  /** Stores a message Twilio received (direction inbound, status received), as the account's Messages list shows it. */
  receive(inbound: InboundMessage): string {
    const now = new Date();
    const sid = newSid("SM");
    this.store(this.messages, {
      account_sid: inbound.accountSid,
      api_version: API_VERSION,
      body: inbound.body,
      date_created: rfc2822(now),
      date_sent: rfc2822(now),
      date_updated: rfc2822(now),
      direction: "inbound",
      error_code: null,
      error_message: null,
      from: inbound.from,
      messaging_service_sid: null,
      num_media: "0",
      num_segments: "1",
      price: null,
      price_unit: "USD",
      sid,
      status: "received",
      subresource_uris: { media: `/${API_VERSION}/Accounts/${inbound.accountSid}/Messages/${sid}/Media.json` },
      to: inbound.to,
      uri: `/${API_VERSION}/Accounts/${inbound.accountSid}/Messages/${sid}.json`,
    }, now);
    return sid;
  }

  private store(list: Resource[], resource: Resource, createdAt: Date): void {
    Object.defineProperty(resource, "createdAtMs", { value: createdAt.getTime(), enumerable: false });
    list.push(resource);
    this.bySid.set(resource.sid, resource);
  }

  private fetch(request: SimRequest, sid: string): Reply {
    const resource = this.bySid.get(sid);
    if (!resource) return twilioError(404, 20404, `The requested resource ${request.pathname} was not found`);
    return jsonReply(200, resource);
  }

  private list(request: SimRequest, accountSid: string, collection: "Messages" | "Calls"): Reply {
    const q = request.query;
    const dateKey = collection === "Messages" ? "DateSent" : "StartTime";
    const parsed = {
      on: parseDateFilter(q.get(dateKey)),
      after: parseDateFilter(q.get(`${dateKey}>`)),
      before: parseDateFilter(q.get(`${dateKey}<`)),
    };
    const unparsable = Object.entries(parsed).find(([, bound]) => bound === null);
    if (unparsable) {
      return twilioError(400, 20001, `Invalid ${dateKey} filter (${unparsable[0]}): use YYYY-MM-DD or an ISO 8601 date-time`);
    }
    const bounds = parsed as Record<keyof typeof parsed, Interval | undefined>;
    const to = q.get("To");
    const from = q.get("From");
    const visibleBefore = Date.now() - this.deps.listLagMs();
    const matching = (collection === "Messages" ? this.messages : this.calls).filter((r) => {
      const at = (r as unknown as { createdAtMs: number }).createdAtMs;
      return (
        r.account_sid === accountSid &&
        at <= visibleBefore &&
        (to === null || r.to === to) &&
        (from === null || r.from === from) &&
        (bounds.after === undefined || at >= bounds.after.start) &&
        (bounds.before === undefined || at < bounds.before.end) &&
        (bounds.on === undefined || (at >= bounds.on.start && at < bounds.on.end))
      );
    });
    matching.reverse(); // newest first, as Twilio lists
    const pageSize = Math.min(Math.max(Number(q.get("PageSize") ?? DEFAULT_PAGE_SIZE) || DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
    const page = Math.max(Number(q.get("Page") ?? 0) || 0, 0);
    const start = page * pageSize;
    const items = matching.slice(start, start + pageSize);
    const pageUri = (n: number): string => {
      const params = new URLSearchParams(q);
      params.set("PageSize", String(pageSize));
      params.set("Page", String(n));
      return `${request.pathname}?${params.toString()}`;
    };
    return jsonReply(200, {
      [collection.toLowerCase()]: items,
      end: start + Math.max(items.length - 1, 0),
      first_page_uri: pageUri(0),
      next_page_uri: start + pageSize < matching.length ? pageUri(page + 1) : null,
      page,
      page_size: pageSize,
      previous_page_uri: page > 0 ? pageUri(page - 1) : null,
      start,
      uri: pageUri(page),
    });
  }
}

/** StatusCallbackEvent, repeated or space-separated as Twilio accepts it, as call statuses. */
function requestedCallEvents(params: URLSearchParams): Set<string> {
  const names = params.getAll("StatusCallbackEvent").flatMap((value) => value.split(/\s+/));
  return new Set(names.flatMap((name) => CALL_EVENTS[name.toLowerCase()] ?? []));
}

/**
 * A Twilio date filter: a day (YYYY-MM-DD, in UTC) or an instant. Returns the interval it names, undefined when the
 * filter is absent and null when it cannot be parsed. `X>` means "on or after", `X<` means "before", as on Twilio.
 */
interface Interval {
  start: number;
  end: number;
}

function parseDateFilter(value: string | null): Interval | undefined | null {
  if (value === null) return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const start = Date.parse(`${value}T00:00:00Z`);
    return Number.isNaN(start) ? null : { start, end: start + 86_400_000 };
  }
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : { start: at, end: at };
}
