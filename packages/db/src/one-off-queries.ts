import type { Db } from "./client";
import { sqlPool } from "./client";

/** A one-off message and its contact, as its job needs them (one round trip). */
export interface OneOffTarget {
  now: Date;
  id: number;
  channel: "sms" | "email";
  subject: string | null;
  body: string;
  deadline: Date;
  createdAt: Date;
  contact: { id: number; name: string; phone: string | null; email: string | null };
}

export async function loadOneOffTarget(db: Db, messageId: number): Promise<OneOffTarget | undefined> {
  const { rows } = await sqlPool(db).query<OneOffTarget>(
    `SELECT nudge_now() AS now, m.id, m.channel::text AS channel, m.subject, m.body, m.deadline, m.created_at AS "createdAt",
            json_build_object('id', c.id, 'name', c.name, 'phone', c.phone, 'email', c.email) AS contact
     FROM one_off_messages m JOIN contacts c ON c.id = m.contact_id WHERE m.id = $1`,
    [messageId],
  );
  return rows[0];
}

/**
 * A page of one-off messages whose job has not been enqueued since they were written (or since a sweep reset them),
 * oldest first, keyset on id. Those past their deadline are included: their job settles them as skipped.
 */
export async function findUnenqueuedOneOffs(db: Db, afterId: number, limit: number): Promise<number[]> {
  const { rows } = await sqlPool(db).query<{ id: number }>(
    `SELECT id FROM one_off_messages WHERE NOT enqueued AND id > $1 ORDER BY id LIMIT $2`,
    [afterId, limit],
  );
  return rows.map((r) => r.id);
}

/**
 * Sets the bookmark of messages whose jobs were added: those a sweep reset (new messages come with theirs set and a
 * handoff instead, see the one_off_handoffs migration). One UPDATE, which locks each row as it writes it. It used to
 * lock the rows first, in id order as resetOneOffBookmarks does (`SELECT ... ORDER BY id FOR UPDATE`), which wrote
 * every row twice: in the relay's benchmark that mark cost Postgres as much as creating the message (20 µs a row,
 * then 10). The rows are now locked in the plan's order instead, so a mark and a reset (or another mark) of the same
 * messages can deadlock. That costs nothing but a retry: Postgres aborts one of them, the relay's enqueuer marks
 * again after a backoff, a failed one-off pass runs again (its sweep too, whose marker is set only when it ends), and
 * a message left unmarked is only enqueued again, which its jobId makes a no-op.
 */
export async function markOneOffsEnqueued(db: Db, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await sqlPool(db).query(`UPDATE one_off_messages SET enqueued = true WHERE id = ANY($1::int[]) AND NOT enqueued`, [ids]);
}

/**
 * SQL: whether one-off message `m` (the alias of one_off_messages in the statement) may still lack its job: a sweep
 * reset its bookmark, or its handoff is still there (the process that wrote it died before adding its jobs, or has
 * not reached Redis yet). The handoffs are few (in flight only), so the EXISTS reads a small table.
 */
export const jobMayBeMissing = (m: string): string => `(NOT ${m}.enqueued OR EXISTS (SELECT 1 FROM one_off_handoffs h WHERE ${m}.id = ANY(h.message_ids)))`;

/** One-off messages written in one transaction whose jobs are being added (see the one_off_handoffs migration). */
export interface OneOffHandoff {
  id: string;
  messageIds: number[];
}

/**
 * Handoffs written at least `olderThanMs` ago by the database's clock, oldest first: the process that wrote one has
 * died, or has not reached Redis since. Whoever takes one over adds its jobs and then deletes it (deleteHandoffs).
 */
export async function findStaleHandoffs(db: Db, olderThanMs: number, limit: number): Promise<OneOffHandoff[]> {
  const { rows } = await sqlPool(db).query<OneOffHandoff>(
    `SELECT id::text AS id, message_ids AS "messageIds" FROM one_off_handoffs WHERE created_at <= nudge_now() - $1 * interval '1 millisecond' ORDER BY id LIMIT $2`,
    [olderThanMs, limit],
  );
  return rows;
}

/** Ends handoffs whose jobs have all been added. */
export async function deleteHandoffs(db: Db, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await sqlPool(db).query(`DELETE FROM one_off_handoffs WHERE id = ANY($1::bigint[])`, [ids]);
}

/**
 * A sweep (Redis may have lost the jobs): every one-off message whose delivery has not settled is enqueued again,
 * unless it is so far past its deadline that the scheduler's clean-up owns it. Returns how many were reset.
 */
export async function resetOneOffBookmarks(db: Db): Promise<number> {
  const { rowCount } = await sqlPool(db).query(
    `WITH locked AS (
       SELECT m.id FROM one_off_messages m
       LEFT JOIN deliveries d ON d.idempotency_key = 'oneoff.msg-' || m.id
       WHERE m.enqueued AND (d.id IS NULL OR d.state IN ('pending', 'sending'))
       ORDER BY m.id FOR UPDATE OF m)
     UPDATE one_off_messages m SET enqueued = false FROM locked WHERE m.id = locked.id`,
  );
  return rowCount ?? 0;
}
