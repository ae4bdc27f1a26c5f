import { randomBytes } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { FaultStatus } from "./fault-injector";
import { bearerToken, jsonReply, parseJson, type ProviderRoute, type Reply } from "./http-io";
import type { RequestRecord } from "./request-record";
import type { SendGridEvents } from "./sendgrid-events";

const HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html";

export function sendGridError(status: number, errors: Array<{ message: string; field?: string | null; help?: string | null }>): Reply {
  return jsonReply(status, { errors: errors.map((e) => ({ message: e.message, field: e.field ?? null, help: e.help ?? null })) });
}

export function sendGridFaultReply(status: 429 | FaultStatus, retryAfterSeconds: number): Reply {
  if (status === 429) {
    const reply = sendGridError(429, [{ message: "too many requests" }]);
    const resetAt = String(Math.ceil(Date.now() / 1000) + retryAfterSeconds);
    return { ...reply, headers: { ...reply.headers, "Retry-After": String(retryAfterSeconds), "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": resetAt } };
  }
  return sendGridError(status, [{ message: status === 500 ? "Internal server error" : (STATUS_CODES[status] ?? "Server error") }]);
}

interface MailBody {
  personalizations?: Array<{ to?: Array<{ email?: unknown }>; subject?: unknown; custom_args?: Record<string, unknown> }>;
  from?: { email?: unknown };
  subject?: unknown;
  content?: Array<{ type?: unknown; value?: unknown }>;
  template_id?: unknown;
  custom_args?: Record<string, unknown>;
  categories?: unknown;
}

/**
 * SendGrid v3 `POST /v3/mail/send`: 202 with an empty body and an X-Message-Id header, or SendGrid's error list. An
 * accepted mail is recorded (its first recipient) and every recipient's events are scheduled.
 */
export class SendGridRoutes {
  constructor(private readonly deps: { records: RequestRecord; events: SendGridEvents; listLagMs: () => number }) {}

  route(method: string, pathname: string): ProviderRoute | undefined {
    if (pathname === "/v3/messages") return this.activityRoute(method);
    if (pathname !== "/v3/mail/send") return undefined;
    return {
      provider: "sendgrid",
      handle: (request) => {
        if (method !== "POST") return sendGridError(405, [{ message: "method not allowed" }]);
        if (!bearerToken(request.headers)) {
          return sendGridError(401, [{ message: "The provided authorization grant is invalid, expired, or revoked", field: null }]);
        }
        const mail = parseJson(request.body);
        if (typeof mail !== "object" || mail === null) {
          return sendGridError(400, [{ message: "Bad Request", field: null, help: null }]);
        }
        const invalid = validate(mail as MailBody);
        if (invalid) return invalid;
        return this.accept(mail as MailBody);
      },
    };
  }

  /**
   * The Email Activity API (`GET /v3/messages?query=...&limit=N`, a paid add-on on real accounts): the emails
   * SendGrid has, filtered by SendGrid's query language. This simulator understands `to_email="..."` and
   * `unique_args['name']="..."` joined by AND, which is what Nudge asks. It lags behind like the Twilio lists
   * (`listLagMs`), as the real feed does by minutes.
   */
  private activityRoute(method: string): ProviderRoute {
    return {
      provider: "sendgrid",
      handle: (request) => {
        if (method !== "GET") return sendGridError(405, [{ message: "method not allowed" }]);
        if (!bearerToken(request.headers)) {
          return sendGridError(401, [{ message: "The provided authorization grant is invalid, expired, or revoked", field: null }]);
        }
        const query = request.query.get("query") ?? "";
        const limit = Number(request.query.get("limit") ?? "10");
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return sendGridError(400, [{ message: "limit must be an integer from 1 to 1000", field: "limit" }]);
        const clauses = query.split(/\s+AND\s+/i).map((c) => c.trim().replace(/^\((.*)\)$/, "$1")).filter(Boolean);
        const filters: Array<(r: { to: string; deliveryId?: string }) => boolean> = [];
        for (const clause of clauses) {
          const to = /^to_email\s*=\s*"([^"]*)"$/.exec(clause);
          const arg = /^unique_args\['deliveryId'\]\s*=\s*"([^"]*)"$/.exec(clause);
          if (to) filters.push((r) => r.to.toLowerCase() === to[1]!.toLowerCase());
          else if (arg) filters.push((r) => r.deliveryId === arg[1]);
          else return sendGridError(400, [{ message: `invalid query clause: ${clause}`, field: "query" }]);
        }
        const visibleBefore = Date.now() - this.deps.listLagMs();
        const messages = this.deps.records
          .list({ provider: "sendgrid" })
          .filter((r) => Date.parse(r.at) <= visibleBefore && filters.every((f) => f(r)))
          .slice(-limit)
          .map((r) => ({
            from_email: "reminders@example.com",
            msg_id: `${r.id}.filter0001.1.0`,
            subject: r.subject ?? "",
            to_email: r.to,
            status: "delivered",
            opens_count: 0,
            clicks_count: 0,
            last_event_time: r.at,
          }));
        return jsonReply(200, { messages });
      },
    };
  }

  private accept(mail: MailBody): Reply {
    const id = randomBytes(16).toString("base64url").slice(0, 22);
    const personalization = mail.personalizations![0]!;
    const content = mail.content?.find((c) => c.type === "text/plain") ?? mail.content?.[0];
    const subject = personalization.subject ?? mail.subject;
    const deliveryId = personalization.custom_args?.deliveryId ?? mail.custom_args?.deliveryId;
    this.deps.records.add({
      provider: "sendgrid",
      id,
      to: String(personalization.to![0]!.email),
      body: typeof content?.value === "string" ? content.value : "",
      ...(typeof subject === "string" && { subject }),
      ...(deliveryId !== undefined && { deliveryId: String(deliveryId) }),
    });
    const categories = Array.isArray(mail.categories) ? mail.categories.filter((c): c is string => typeof c === "string") : [];
    let recipient = 0;
    for (const each of mail.personalizations!) {
      const customArgs = customArgsOf(mail.custom_args, each.custom_args);
      for (const to of Array.isArray(each.to) ? each.to : []) {
        if (typeof to.email !== "string") continue;
        this.deps.events.accepted({ messageId: id, recipient: recipient++, email: to.email, customArgs, categories });
      }
    }
    return { status: 202, headers: { "X-Message-Id": id } };
  }
}

function validate(mail: MailBody): Reply | undefined {
  const personalization = Array.isArray(mail.personalizations) ? mail.personalizations[0] : undefined;
  if (!personalization) {
    return sendGridError(400, [{ message: "The personalizations field is required and must have at least one personalization.", field: "personalizations", help: `${HELP}#-Personalizations-Errors` }]);
  }
  const to = Array.isArray(personalization.to) ? personalization.to[0] : undefined;
  if (!to || typeof to.email !== "string" || !to.email.includes("@")) {
    return sendGridError(400, [{ message: "The to array is required for all personalization objects, and must have at least one email object with a valid email address.", field: "personalizations.0.to", help: `${HELP}#message.personalizations.to` }]);
  }
  if (typeof mail.from?.email !== "string" || !mail.from.email.includes("@")) {
    return sendGridError(400, [{ message: "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.", field: "from", help: `${HELP}#message.from` }]);
  }
  if (mail.template_id !== undefined) return undefined;
  const hasContent = Array.isArray(mail.content) && mail.content.length > 0 && mail.content.every((c) => typeof c.type === "string" && typeof c.value === "string" && c.value.length > 0);
  if (!hasContent) {
    return sendGridError(400, [{ message: "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.", field: "content", help: `${HELP}#message.content` }]);
  }
  if (!nonEmpty(personalization.subject) && !nonEmpty(mail.subject)) {
    return sendGridError(400, [{ message: "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.", field: "subject", help: `${HELP}#message.subject` }]);
  }
  return undefined;
}

/**
 * The mail's custom_args under the personalization's, as strings (SendGrid wants strings; another value is kept
 * readable rather than refused, as the simulator does not judge custom_args).
 */
function customArgsOf(...levels: unknown[]): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const level of levels) {
    if (typeof level !== "object" || level === null || Array.isArray(level)) continue;
    for (const [key, value] of Object.entries(level)) merged[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return merged;
}

function nonEmpty(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}
