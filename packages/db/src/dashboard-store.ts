import type { Channel, DeliveryState } from "@nudge/core";
import type { Pool } from "pg";
import { type Db, sqlPool } from "./client";

export type DashboardRole = "viewer" | "operator";

export interface DashboardUser {
  id: number;
  name: string;
  role: DashboardRole;
  passwordHash: string;
}

export interface SessionUser {
  userId: number;
  name: string;
  role: DashboardRole;
  expiresAt: Date;
}

export interface LedgerFilter {
  /** Part of the address (a phone number or an email), any case. */
  recipient?: string | undefined;
  /** Part of the idempotency key. */
  key?: string | undefined;
  state?: DeliveryState | undefined;
  /** Part of the reason, any case. */
  reason?: string | undefined;
  /** The message kind: reminder, drip, one-off. */
  kind?: string | undefined;
  /** Created at or after. */
  from?: Date | undefined;
  /** Created before. */
  to?: Date | undefined;
}

export interface LedgerRow {
  id: number;
  idempotencyKey: string;
  kind: string;
  channel: Channel;
  recipient: string;
  state: DeliveryState;
  reason: string | null;
  providerStatus: string | null;
  providerMessageId: string | null;
  resends: number;
  createdAt: Date;
  updatedAt: Date;
  sentAt: Date | null;
}

export interface TimelineEvent {
  at: Date;
  what: "message" | "sent" | "provider-report" | "suppressed" | "operator";
  deliveryId: number | null;
  channel: Channel | null;
  address: string;
  state: string | null;
  detail: string | null;
  key: string | null;
}

export interface TimelineMessage extends LedgerRow {
  body: string;
  subject: string | null;
}

export interface Timeline {
  /** The addresses the timeline covers: the one asked for and, when it is a contact's, that contact's others. */
  addresses: string[];
  messages: TimelineMessage[];
  suppressions: { channel: Channel; address: string; reason: string; source: string; createdAt: Date }[];
  /** Everything above, and each provider report and operator decision, oldest first. */
  events: TimelineEvent[];
}

export interface AwaitingDecision extends LedgerRow {
  body: string;
  firstClaimedAt: Date | null;
  awaitingOperatorSince: Date;
  events: { status: string; detail: string | null; providerMessageId: string | null; receivedAt: Date }[];
  /** Other deliveries to the same address on the same channel claimed within an hour of this one. */
  neighbours: { id: number; state: string; providerMessageId: string | null; firstClaimedAt: Date | null }[];
}

export interface AuditEntry {
  id: string;
  operator: string;
  action: string;
  deliveryId: number | null;
  detail: string | null;
  outcome: string;
  at: Date;
}

const LEDGER_COLUMNS = `d.id, d.idempotency_key AS "idempotencyKey", d.kind, d.channel::text AS channel, d.recipient,
  d.state::text AS state, d.reason, d.provider_status AS "providerStatus", d.provider_message_id AS "providerMessageId",
  d.resends, d.created_at AS "createdAt", d.updated_at AS "updatedAt", d.sent_at AS "sentAt"`;

const like = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * What the ops dashboard keeps and reads: its users and sessions (expiry on the database's clock), the audit log of
 * operator decisions, and read-only views of the ledger (search, a recipient's timeline, the sends waiting for a
 * decision). It changes no delivery: operator decisions go through @nudge/send-guard, like every state change of a
 * send.
 */
export class DashboardStore {
  private readonly pool: Pool;

  constructor(db: Db) {
    this.pool = sqlPool(db);
  }

  /** Adds the user, or gives an existing one the new role and password. */
  async putUser(name: string, role: DashboardRole, passwordHash: string): Promise<"created" | "updated"> {
    const { rows } = await this.pool.query<{ created: boolean }>(
      `INSERT INTO dashboard_users (name, role, password_hash) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role, password_hash = EXCLUDED.password_hash, updated_at = nudge_now()
       RETURNING (xmax = 0) AS created`,
      [name, role, passwordHash],
    );
    // A new password ends the user's sessions: whoever knew the old one is logged out.
    if (!rows[0]!.created) await this.pool.query(`DELETE FROM dashboard_sessions s USING dashboard_users u WHERE u.id = s.user_id AND u.name = $1`, [name]);
    return rows[0]!.created ? "created" : "updated";
  }

  async userByName(name: string): Promise<DashboardUser | undefined> {
    const { rows } = await this.pool.query<DashboardUser>(
      `SELECT id, name, role, password_hash AS "passwordHash" FROM dashboard_users WHERE name = $1`,
      [name],
    );
    return rows[0];
  }

  async countUsers(): Promise<number> {
    return Number((await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM dashboard_users`)).rows[0]!.n);
  }

  /** Opens a session for `ttlMs` from now by the database's clock; returns when it ends. */
  async createSession(idHash: string, userId: number, ttlMs: number): Promise<Date> {
    const { rows } = await this.pool.query<{ expiresAt: Date }>(
      `INSERT INTO dashboard_sessions (id_hash, user_id, expires_at) VALUES ($1, $2, nudge_now() + $3 * interval '1 millisecond')
       RETURNING expires_at AS "expiresAt"`,
      [idHash, userId, ttlMs],
    );
    return rows[0]!.expiresAt;
  }

  /** The session's user, if the session exists and has not expired by the database's clock. */
  async sessionUser(idHash: string): Promise<SessionUser | undefined> {
    const { rows } = await this.pool.query<SessionUser>(
      `SELECT u.id AS "userId", u.name, u.role, s.expires_at AS "expiresAt"
       FROM dashboard_sessions s JOIN dashboard_users u ON u.id = s.user_id
       WHERE s.id_hash = $1 AND s.expires_at > nudge_now()`,
      [idHash],
    );
    return rows[0];
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.pool.query(`DELETE FROM dashboard_sessions WHERE id_hash = $1`, [idHash]);
  }

  /** Removes sessions that ended more than a day ago; returns how many. */
  async pruneSessions(): Promise<number> {
    return (await this.pool.query(`DELETE FROM dashboard_sessions WHERE expires_at < nudge_now() - interval '1 day'`)).rowCount ?? 0;
  }

  async recordDecision(entry: { operator: string; action: string; deliveryId: number | null; detail: string | null; outcome: string }): Promise<void> {
    await this.pool.query(`INSERT INTO operator_audit_log (operator, action, delivery_id, detail, outcome) VALUES ($1, $2, $3, $4, $5)`, [
      entry.operator,
      entry.action,
      entry.deliveryId,
      entry.detail,
      entry.outcome,
    ]);
  }

  async auditLog(limit: number, deliveryId?: number): Promise<AuditEntry[]> {
    const { rows } = await this.pool.query<AuditEntry>(
      `SELECT id::text AS id, operator, action, delivery_id AS "deliveryId", detail, outcome, at FROM operator_audit_log
       WHERE $2::int IS NULL OR delivery_id = $2 ORDER BY id DESC LIMIT $1`,
      [limit, deliveryId ?? null],
    );
    return rows;
  }

  /** A page of the ledger, newest first (keyed on id, so a page does not shift while messages come in). */
  async searchLedger(filter: LedgerFilter, page: { limit: number; beforeId?: number | undefined }): Promise<{ rows: LedgerRow[]; nextBeforeId?: number }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: (n: string) => string, value: unknown) => {
      params.push(value);
      where.push(sql(`$${params.length}`));
    };
    if (filter.recipient) add((p) => `d.recipient ILIKE ${p}`, like(filter.recipient.trim()));
    if (filter.key) add((p) => `d.idempotency_key LIKE ${p}`, like(filter.key.trim()));
    if (filter.state) add((p) => `d.state = ${p}::"DeliveryState"`, filter.state);
    if (filter.reason) add((p) => `d.reason ILIKE ${p}`, like(filter.reason.trim()));
    if (filter.kind) add((p) => `d.kind = ${p}`, filter.kind);
    if (filter.from) add((p) => `d.created_at >= ${p}`, filter.from);
    if (filter.to) add((p) => `d.created_at < ${p}`, filter.to);
    if (page.beforeId !== undefined) add((p) => `d.id < ${p}`, page.beforeId);
    params.push(page.limit + 1);
    const { rows } = await this.pool.query<LedgerRow>(
      `SELECT ${LEDGER_COLUMNS} FROM deliveries d ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY d.id DESC LIMIT $${params.length}`,
      params,
    );
    if (rows.length <= page.limit) return { rows };
    const shown = rows.slice(0, page.limit);
    return { rows: shown, nextBeforeId: shown[shown.length - 1]!.id };
  }

  /**
   * Every message to an address, in time order, with what the providers reported, the opt-outs and operator
   * decisions. An address that is a contact's phone or email brings in the contact's other addresses too: "what did
   * this person get" spans channels.
   */
  async timeline(address: string): Promise<Timeline> {
    const wanted = address.trim();
    const { rows: addressRows } = await this.pool.query<{ address: string }>(
      `SELECT $1::text AS address
       UNION SELECT lower($1)
       UNION SELECT a FROM contacts c, unnest(ARRAY[c.phone, lower(c.email)]) a
         WHERE (c.phone = $1 OR lower(c.email) = lower($1)) AND a IS NOT NULL`,
      [wanted],
    );
    const addresses = [...new Set(addressRows.map((r) => r.address))];
    const { rows: messages } = await this.pool.query<TimelineMessage>(
      `SELECT ${LEDGER_COLUMNS}, d.body, d.subject FROM deliveries d WHERE d.recipient = ANY($1::text[]) ORDER BY d.created_at, d.id`,
      [addresses],
    );
    const ids = messages.map((m) => m.id);
    const { rows: suppressions } = await this.pool.query<Timeline["suppressions"][number]>(
      `SELECT channel::text AS channel, address, reason, source, created_at AS "createdAt" FROM suppressions
       WHERE address = ANY($1::text[]) ORDER BY created_at`,
      [addresses],
    );
    const { rows: reports } = await this.pool.query<{ deliveryId: number; status: string; detail: string | null; receivedAt: Date }>(
      `SELECT delivery_id AS "deliveryId", status, detail, received_at AS "receivedAt" FROM provider_events WHERE delivery_id = ANY($1::int[])`,
      [ids],
    );
    const { rows: decisions } = await this.pool.query<AuditEntry>(
      `SELECT id::text AS id, operator, action, delivery_id AS "deliveryId", detail, outcome, at FROM operator_audit_log WHERE delivery_id = ANY($1::int[])`,
      [ids],
    );
    const byId = new Map(messages.map((m) => [m.id, m]));
    const events: TimelineEvent[] = [];
    for (const m of messages) {
      events.push({ at: m.createdAt, what: "message", deliveryId: m.id, channel: m.channel, address: m.recipient, state: m.state, detail: m.reason, key: m.idempotencyKey });
      if (m.sentAt) events.push({ at: m.sentAt, what: "sent", deliveryId: m.id, channel: m.channel, address: m.recipient, state: "sent", detail: m.providerMessageId, key: m.idempotencyKey });
    }
    for (const r of reports) {
      const m = byId.get(r.deliveryId)!;
      events.push({ at: r.receivedAt, what: "provider-report", deliveryId: m.id, channel: m.channel, address: m.recipient, state: r.status, detail: r.detail, key: m.idempotencyKey });
    }
    for (const s of suppressions) {
      events.push({ at: s.createdAt, what: "suppressed", deliveryId: null, channel: s.channel, address: s.address, state: null, detail: `${s.reason} (${s.source})`, key: null });
    }
    for (const d of decisions) {
      const m = byId.get(d.deliveryId!)!;
      events.push({ at: d.at, what: "operator", deliveryId: m.id, channel: m.channel, address: m.recipient, state: d.action, detail: `${d.operator}: ${d.outcome}${d.detail ? ` (${d.detail})` : ""}`, key: m.idempotencyKey });
    }
    events.sort((a, b) => a.at.getTime() - b.at.getTime());
    return { addresses, messages, suppressions, events };
  }

  /** Whether a delivery is `unknown` and the reconciler has handed it to a person (only those take an operator's decision). */
  async isAwaitingDecision(deliveryId: number): Promise<boolean> {
    const { rows } = await this.pool.query(`SELECT 1 FROM deliveries WHERE id = $1 AND state = 'unknown' AND awaiting_operator_since IS NOT NULL`, [deliveryId]);
    return rows.length === 1;
  }

  /** The sends the reconciler could not decide (`unknown`, awaiting an operator), oldest first, with their evidence. */
  async awaitingDecision(limit: number): Promise<AwaitingDecision[]> {
    const { rows } = await this.pool.query<AwaitingDecision>(
      `SELECT ${LEDGER_COLUMNS}, d.body, d.first_claimed_at AS "firstClaimedAt", d.awaiting_operator_since AS "awaitingOperatorSince",
              COALESCE((SELECT json_agg(json_build_object('status', e.status, 'detail', e.detail, 'providerMessageId', e.provider_message_id,
                                                          'receivedAt', e.received_at) ORDER BY e.received_at)
                        FROM provider_events e WHERE e.delivery_id = d.id), '[]') AS events,
              COALESCE((SELECT json_agg(json_build_object('id', o.id, 'state', o.state, 'providerMessageId', o.provider_message_id,
                                                          'firstClaimedAt', o.first_claimed_at) ORDER BY o.id)
                        FROM deliveries o
                        WHERE o.recipient = d.recipient AND o.channel = d.channel AND o.id <> d.id
                          AND o.first_claimed_at BETWEEN COALESCE(d.first_claimed_at, d.created_at) - interval '1 hour'
                                                     AND COALESCE(d.first_claimed_at, d.created_at) + interval '1 hour'), '[]') AS neighbours
       FROM deliveries d
       WHERE d.state = 'unknown' AND d.awaiting_operator_since IS NOT NULL
       ORDER BY d.awaiting_operator_since, d.id LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      ...r,
      events: r.events.map((e) => ({ ...e, receivedAt: new Date(e.receivedAt) })),
      neighbours: r.neighbours.map((n) => ({ ...n, firstClaimedAt: n.firstClaimedAt && new Date(n.firstClaimedAt) })),
    }));
  }
}
