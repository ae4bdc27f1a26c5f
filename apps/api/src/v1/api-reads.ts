import { type Db, sqlPool } from "@nudge/db";
import type { ApiPrincipal } from "./api-tokens";

/**
 * What a token may read: deliveries to the contacts its source created (its one-off messages, its appointments'
 * reminders, its leads' drip steps). An admin token reads every delivery. A delivery another source's token asks for
 * is answered as absent (404), not forbidden, so that ids of other services' messages cannot be probed.
 */
const DELIVERY_COLUMNS = `d.id, d.kind, d.channel::text AS channel, d.recipient, d.state::text AS state, d.reason,
  d.provider_status AS "providerStatus", d.attempts, d.deadline, d.created_at AS "createdAt", d.sent_at AS "sentAt"`;

const visibleTo = (sourceParam: string, adminParam: string) =>
  `(${adminParam}::boolean OR EXISTS (SELECT 1 FROM external_refs r WHERE r.source = ${sourceParam} AND r.kind = 'contact' AND r.nudge_id = d.contact_id))`;

export interface DeliveryView {
  id: number;
  kind: string;
  channel: string;
  recipient: string;
  state: string;
  reason: string | null;
  providerStatus: string | null;
  attempts: number;
  deadline: Date;
  createdAt: Date;
  sentAt: Date | null;
}

const isAdmin = (p: ApiPrincipal) => p.scopes.includes("admin");

export async function readDelivery(db: Db, principal: ApiPrincipal, id: number): Promise<DeliveryView | undefined> {
  const { rows } = await sqlPool(db).query<DeliveryView>(
    `SELECT ${DELIVERY_COLUMNS} FROM deliveries d WHERE d.id = $1 AND ${visibleTo("$2", "$3")}`,
    [id, principal.source, isAdmin(principal)],
  );
  return rows[0];
}

export interface MessageView {
  id: number;
  requestId: number;
  idempotencyKey: string;
  channel: string;
  state: string;
  deadline: Date;
  createdAt: Date;
  delivery: DeliveryView | null;
}

/** A one-off message the token's source asked for (an admin token: any), with its delivery once a worker made it. */
export async function readMessage(db: Db, principal: ApiPrincipal, id: number): Promise<MessageView | undefined> {
  const { rows } = await sqlPool(db).query<Omit<MessageView, "state" | "delivery"> & { delivery: DeliveryView | null }>(
    `SELECT m.id, m.request_id AS "requestId", q.idempotency_key AS "idempotencyKey", m.channel::text AS channel, m.deadline,
            m.created_at AS "createdAt",
            (SELECT row_to_json(x) FROM (SELECT ${DELIVERY_COLUMNS} FROM deliveries d WHERE d.idempotency_key = 'oneoff.msg-' || m.id) x) AS delivery
     FROM one_off_messages m JOIN relay_requests q ON q.id = m.request_id
     WHERE m.id = $1 AND ($3::boolean OR q.source = $2)`,
    [id, principal.source, isAdmin(principal)],
  );
  const row = rows[0];
  if (!row) return undefined;
  // row_to_json writes timestamps as Postgres text; as Dates they serialize like every other timestamp of the API.
  const delivery = row.delivery && {
    ...row.delivery,
    deadline: new Date(row.delivery.deadline),
    createdAt: new Date(row.delivery.createdAt),
    sentAt: row.delivery.sentAt === null ? null : new Date(row.delivery.sentAt),
  };
  return { ...row, state: delivery?.state ?? "queued", delivery };
}

/** Every delivery to one of the source's contacts (by the caller's own contact id), newest first. */
export async function readHistory(db: Db, principal: ApiPrincipal, contactId: string, limit: number): Promise<DeliveryView[] | undefined> {
  const pool = sqlPool(db);
  const ref = await pool.query<{ nudgeId: number | null }>(
    `SELECT nudge_id AS "nudgeId" FROM external_refs WHERE source = $1 AND kind = 'contact' AND external_id = $2`,
    [principal.source, contactId],
  );
  const nudgeId = ref.rows[0]?.nudgeId;
  if (nudgeId === undefined || nudgeId === null) return undefined;
  const { rows } = await pool.query<DeliveryView>(
    `SELECT ${DELIVERY_COLUMNS} FROM deliveries d WHERE d.contact_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2`,
    [nudgeId, limit],
  );
  return rows;
}
