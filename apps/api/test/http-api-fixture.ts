import { type Db, sqlPool } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { RequestApplier } from "@nudge/relay";
import { buildWebhooks, createApiToken, RequestAcceptor, type ApiScope, type WebhooksApp } from "../src";
import { listen, type Answer, type Client } from "./http-client";

export const SOURCE = "booking-service";

/** The webhooks app with the HTTP API on, on a real port; no Redis (the scheduler's pass would enqueue the one-offs). */
export async function startApiApp(db: Db, options: { rateLimitPerMinute?: number; bodyLimit?: number } = {}): Promise<{ app: WebhooksApp; client: Client }> {
  const logger = createLogger("api-test", "silent");
  const acceptor = new RequestAcceptor({ db, applier: new RequestApplier({ db, defaultDeadlineHours: 24 }), logger });
  const app = buildWebhooks({
    db,
    logger,
    api: { acceptor, rateLimitPerMinute: options.rateLimitPerMinute ?? 100_000, bodyLimit: options.bodyLimit ?? 256 * 1024 },
  });
  return { app, client: await listen(app) };
}

export async function token(db: Db, scopes: ApiScope[], source = SOURCE): Promise<string> {
  return (await createApiToken(db, { source, scopes, name: `test ${scopes.join(",")}` })).token;
}

/** Row counts of every table a request of the API could write: equal before and after means nothing was written. */
export async function rowCounts(db: Db): Promise<Record<string, number>> {
  const tables = ["relay_requests", "api_idempotency", "one_off_messages", "contacts", "appointments", "external_refs", "enrollments", "deliveries", "api_tokens"];
  const { rows } = await sqlPool(db).query<{ t: string; n: number }>(
    tables.map((t) => `SELECT '${t}' AS t, count(*)::int AS n FROM ${t}`).join(" UNION ALL "),
  );
  return Object.fromEntries(rows.map((r) => [r.t, r.n]));
}

let keys = 0;
export const newKey = (prefix = "k") => `${prefix}-${process.pid}-${++keys}`;

export function post(client: Client, url: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
  return client.request({ method: "POST", url, headers: { "content-type": "application/json", ...headers }, payload: JSON.stringify(body) });
}

export const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** A valid body for every POST route, and its URL. */
export function validRequests(n: number) {
  const contact = { id: `patient-${n}`, name: `Patient ${n}`, phone: `+1555010${String(n % 10000).padStart(4, "0")}`, email: `patient${n}@example.com` };
  const startsAt = new Date(Date.now() + 3 * 86_400_000).toISOString();
  return [
    { url: "/v1/messages", body: { channel: "sms", contact, body: "Your results are ready." } },
    { url: "/v1/appointments", body: { appointmentId: `appt-${n}`, contact, startsAt, version: 1 } },
    { url: `/v1/appointments/appt-${n}/reschedule`, body: { contact, startsAt: new Date(Date.now() + 4 * 86_400_000).toISOString(), version: 2 } },
    { url: `/v1/appointments/appt-${n}/cancel`, body: { version: 3 } },
    // After a cancel, a confirm changes nothing (the appointment stays cancelled).
    { url: `/v1/appointments/appt-${n}/confirm`, body: { version: 4 } },
    { url: "/v1/leads/enroll", body: { contact, campaignId: "follow-up" } },
    { url: `/v1/leads/patient-${n}/stop`, body: { reason: "booked a call" } },
  ];
}
