import type { Channel, DeliveryState, MessageKind } from "@nudge/core";
import type { Pool, PoolClient, QueryResultRow } from "pg";
import { type Db, sqlPool } from "./client";

export interface DeliveryRecord {
  id: number;
  idempotencyKey: string;
  kind: MessageKind;
  /** What the delivery belongs to (e.g. appointment 42): a settled-delivery hook finds its source by these. */
  sourceType: string;
  sourceId: number | null;
  state: DeliveryState;
  reason: string | null;
  fencingToken: number;
  channel: Channel;
  recipient: string;
  subject: string | null;
  body: string;
  contactId: number;
  appointmentId: number | null;
  step: number;
  deadline: Date;
  providerMessageId: string | null;
  needsLookup: boolean;
  firstClaimedAt: Date | null;
}

/** What a delivery belongs to. The claim asks the source whether it still wants the message. */
export type DeliverySource =
  | {
      type: "appointment";
      id: number;
      /** The appointment start the message was made for: a rescheduled appointment no longer wants it. */
      at: Date;
    }
  | {
      /** A lead's enrollment in a drip campaign: a stopped enrollment no longer wants its steps. */
      type: "enrollment";
      id: number;
      /** When the step was due. */
      at: Date;
    }
  | {
      /** A one-off message another service asked for (one_off_messages). */
      type: "one-off";
      id: number;
      /** When it was asked for. */
      at: Date;
    };

export interface NewDelivery {
  idempotencyKey: string;
  kind: MessageKind;
  source: DeliverySource;
  contactId: number;
  step: number;
  channel: Channel;
  recipient: string;
  subject?: string | undefined;
  body: string;
  deadline: Date;
  /**
   * Retire this source's deliveries of earlier steps for the same start that are still waiting, so that a backlog
   * collapses into the latest, most useful message instead of a burst.
   */
  supersedesEarlierSteps?: boolean;
}

/** A pg pool or a client inside the caller's transaction. */
export type Queryable = Pick<Pool | PoolClient, "query">;

export const SELECT_DELIVERY = `
  SELECT id, idempotency_key AS "idempotencyKey", kind, source_type AS "sourceType", source_id AS "sourceId", state::text AS state, reason, fencing_token AS "fencingToken",
         channel::text AS channel, recipient, subject, body, contact_id AS "contactId", appointment_id AS "appointmentId",
         step, deadline, provider_message_id AS "providerMessageId", needs_lookup AS "needsLookup",
         first_claimed_at AS "firstClaimedAt"
  FROM deliveries`;

export interface CancelResult {
  /** False when the appointment was not scheduled (already cancelled, confirmed, completed or absent). */
  changed: boolean;
  /** Deliveries that were waiting and are now `cancelled`: none of them will be sent. */
  cancelled: number[];
  /**
   * Deliveries already claimed when the cancel committed: their send may be under way and cannot be recalled.
   * The claim and the cancel serialize on the appointment row, so this list is exact.
   */
  inFlight: number[];
}

/**
 * The ledger's everyday side: creating deliveries, reading them, cancelling what a source no longer wants, and
 * settling what a lost job left behind. Each state change is one guarded statement, on the database's clock
 * (nudge_now()). Creating and cancelling may run in a caller's transaction (`q`); the claim and the record never do
 * (see ClaimLedger, which only the send guard uses).
 */
export class DeliveryLedger {
  private readonly pool: Pool;

  constructor(db: Db) {
    this.pool = sqlPool(db);
  }

  private async rows<T extends QueryResultRow>(sql: string, params: unknown[], q: Queryable = this.pool): Promise<T[]> {
    return (await q.query<T>(sql, params)).rows;
  }

  async byKey(idempotencyKey: string, q: Queryable = this.pool): Promise<DeliveryRecord | undefined> {
    return (await this.rows<DeliveryRecord>(`${SELECT_DELIVERY} WHERE idempotency_key = $1`, [idempotencyKey], q))[0];
  }

  async byId(id: number): Promise<DeliveryRecord | undefined> {
    return (await this.rows<DeliveryRecord>(`${SELECT_DELIVERY} WHERE id = $1`, [id]))[0];
  }

  /** The database's clock: what every lease, deadline and due time is judged by. */
  async now(): Promise<Date> {
    return (await this.rows<{ now: Date }>("SELECT nudge_now() AS now", []))[0]!.now;
  }

  /**
   * Creates the delivery if absent (the unique key makes a second creation a no-op) and returns it, in one
   * statement. When asked, retires the same source's waiting deliveries of earlier steps for the same start only:
   * a job for an old start must not retire the new start's reminders.
   */
  async create(input: NewDelivery, q: Queryable = this.pool): Promise<DeliveryRecord> {
    const params = [
      input.idempotencyKey,
      input.kind,
      input.source.type,
      input.source.id,
      input.source.at,
      input.contactId,
      input.step,
      input.channel,
      input.recipient,
      input.subject ?? null,
      input.body,
      input.deadline,
      input.supersedesEarlierSteps ?? false,
    ];
    // The final SELECT cannot see the row the CTE inserts (same snapshot), hence the union with what the INSERT
    // returned.
    const rows = await this.rows<DeliveryRecord>(
      `WITH inserted AS (
         INSERT INTO deliveries (idempotency_key, kind, source_type, source_id, appointment_id, appointment_starts_at,
                                 contact_id, step, channel, recipient, subject, body, deadline, created_at, updated_at)
         VALUES ($1, $2, $3, $4, CASE WHEN $3 = 'appointment' THEN $4::int END, CASE WHEN $3 = 'appointment' THEN $5::timestamptz END,
                 $6, $7, $8::"Channel", $9, $10, $11, $12,
                 nudge_now(), nudge_now())
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING *
       ), superseded AS (
         -- A waiting step whose last send got a provider 5xx may exist at the provider: it is not skipped but made
         -- unknown, for the reconciler to look up (found: sent; absent: skipped as superseded, never sent late).
         UPDATE deliveries SET state = CASE WHEN needs_lookup THEN 'unknown' ELSE 'skipped' END::"DeliveryState",
           reason = 'superseded by step ' || $7::int
             || CASE WHEN needs_lookup THEN '; an earlier attempt got a provider 5xx, so the message may exist' ELSE '' END,
           updated_at = nudge_now()
         WHERE $13 AND source_type = $3 AND source_id = $4 AND appointment_starts_at = $5 AND step < $7 AND state = 'pending'
       ), result AS (
         SELECT * FROM inserted
         UNION ALL
         SELECT * FROM deliveries WHERE idempotency_key = $1 AND NOT EXISTS (SELECT 1 FROM inserted)
       )
       ${SELECT_DELIVERY.replace("FROM deliveries", "FROM result")}`,
      params,
      q,
    );
    if (rows[0]) return rows[0];
    // Another transaction inserted the key after this statement's snapshot was taken: the INSERT waited for it and
    // did nothing, and the SELECT above could not see it. A new statement can.
    const existing = await this.byKey(input.idempotencyKey, q);
    if (!existing) throw new Error(`Delivery ${input.idempotencyKey} was neither created nor found`);
    return existing;
  }

  /**
   * Creates the delivery (as `create`) in one transaction with the kind's own bookkeeping, `prepare`, which runs
   * first in the same transaction (a drip step advances its enrollment there): both commit or neither does. A
   * `prepare` that throws creates nothing.
   */
  async createWith(input: NewDelivery, prepare: (q: Queryable) => Promise<void>): Promise<DeliveryRecord> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await prepare(client);
      const delivery = await this.create(input, client);
      await client.query("COMMIT");
      return delivery;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Settles a delivery that was never claimed, creating it first if absent: `failed` (a permanent rejection before
   * the send, such as the CRM refusing the contact) or `skipped`. Returns the delivery as it stands afterwards; a
   * delivery no longer pending is left as it is.
   */
  async settleUnclaimed(
    input: NewDelivery,
    state: "failed" | "skipped",
    reason: string,
    prepare?: (q: Queryable) => Promise<void>,
  ): Promise<DeliveryRecord> {
    const created = prepare ? await this.createWith(input, prepare) : await this.create(input);
    const rows = await this.rows<DeliveryRecord>(
      `WITH settled AS (
         UPDATE deliveries SET state = $2::"DeliveryState", reason = $3, updated_at = nudge_now()
         WHERE id = $1 AND state = 'pending' RETURNING *)
       ${SELECT_DELIVERY.replace("FROM deliveries", "FROM settled")}`,
      [created.id, state, reason],
    );
    return rows[0] ?? (await this.byId(created.id))!;
  }

  /**
   * Cancels (or confirms) an appointment and every reminder of it still waiting, in the caller's transaction when
   * one is given. "Cancel wins" means exactly this: the claim locks the appointment row FOR SHARE in the statement
   * that claims, and this UPDATE locks it for writing, so the two serialize. If the cancel commits first, no later
   * claim succeeds and nothing more is sent. If a claim committed first, its delivery is reported in `inFlight`:
   * its send may already be under way and cannot be recalled.
   */
  async cancelAppointment(appointmentId: number, status: "cancelled" | "confirmed", q?: Queryable): Promise<CancelResult> {
    if (!q) {
      const client = await this.pool.connect();
      try {
        await client.query("BEGIN");
        const result = await this.cancelAppointment(appointmentId, status, client);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    }
    // Two statements, not one: the second must see the deliveries as any claim that held the row left them, and in
    // READ COMMITTED only a new statement (a new snapshot) taken after the lock does.
    const changed = await this.rows(
      `UPDATE appointments SET status = $2::"AppointmentStatus", updated_at = nudge_now() WHERE id = $1 AND status = 'scheduled' RETURNING id`,
      [appointmentId, status],
      q,
    );
    const rows = await this.rows<{ id: number; state: DeliveryState }>(
      `WITH cancelled AS (
         UPDATE deliveries SET state = 'cancelled', reason = 'appointment ' || $2, updated_at = nudge_now()
         WHERE source_type = 'appointment' AND source_id = $1 AND state = 'pending' AND $3
         RETURNING id, state::text AS state)
       SELECT * FROM cancelled
       UNION ALL
       SELECT id, state::text FROM deliveries WHERE source_type = 'appointment' AND source_id = $1 AND state = 'sending'`,
      [appointmentId, status, changed.length > 0],
      q,
    );
    return {
      changed: changed.length > 0,
      cancelled: rows.filter((r) => r.state === "cancelled").map((r) => r.id),
      inFlight: rows.filter((r) => r.state === "sending").map((r) => r.id),
    };
  }

  /**
   * Cancels the waiting steps of enrollments that were just stopped, in the caller's transaction (after the UPDATE
   * that stopped them, which holds their rows: see nudge_unwanted_reason). Reports the steps already claimed: their
   * send may be under way and cannot be recalled.
   */
  async cancelEnrollmentSteps(enrollmentIds: readonly number[], reason: string, q: Queryable): Promise<Omit<CancelResult, "changed">> {
    if (enrollmentIds.length === 0) return { cancelled: [], inFlight: [] };
    const rows = await this.rows<{ id: number; state: DeliveryState }>(
      `WITH cancelled AS (
         UPDATE deliveries SET state = CASE WHEN needs_lookup THEN 'unknown' ELSE 'cancelled' END::"DeliveryState",
           reason = 'enrollment stopped: ' || $2
             || CASE WHEN needs_lookup THEN '; an earlier attempt got a provider 5xx, so the message may exist' ELSE '' END,
           updated_at = nudge_now()
         WHERE source_type = 'enrollment' AND source_id = ANY($1::int[]) AND state = 'pending'
         RETURNING id, state::text AS state)
       SELECT * FROM cancelled
       UNION ALL
       SELECT id, state::text FROM deliveries WHERE source_type = 'enrollment' AND source_id = ANY($1::int[]) AND state = 'sending'`,
      [enrollmentIds, reason],
      q,
    );
    return {
      cancelled: rows.filter((r) => r.state !== "sending").map((r) => r.id),
      inFlight: rows.filter((r) => r.state === "sending").map((r) => r.id),
    };
  }

  /**
   * Records messages whose job was lost and that can no longer be sent as `skipped`, so that none is lost silently:
   * one statement for the whole list (a sweep after Redis lost its data may find thousands). A key that already has
   * a delivery is left as it is. Returns how many were recorded.
   */
  async recordLost(inputs: readonly NewDelivery[], reason: string): Promise<number> {
    if (inputs.length === 0) return 0;
    const column = <T>(pick: (input: NewDelivery) => T): T[] => inputs.map(pick);
    const { rowCount } = await this.pool.query(
      `INSERT INTO deliveries (idempotency_key, kind, source_type, source_id, appointment_id, appointment_starts_at,
                               contact_id, step, channel, recipient, body, deadline, state, reason, created_at, updated_at)
       SELECT k, kind, st, sid, CASE WHEN st = 'appointment' THEN sid END, at, cid, step, ch::"Channel", rcpt, '', dl,
              'skipped', $12, nudge_now(), nudge_now()
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::int[], $7::int[], $8::text[],
                   $9::text[], $10::timestamptz[], $11::int[]) AS u(k, kind, st, sid, at, cid, step, ch, rcpt, dl, n)
       ON CONFLICT (idempotency_key) DO NOTHING`,
      [
        column((i) => i.idempotencyKey),
        column((i) => i.kind),
        column((i) => i.source.type),
        column((i) => i.source.id),
        column((i) => i.source.at.toISOString()),
        column((i) => i.contactId),
        column((i) => i.step),
        column((i) => i.channel),
        column((i) => i.recipient),
        column((i) => i.deadline.toISOString()),
        inputs.map((_, n) => n),
        reason,
      ],
    );
    return rowCount ?? 0;
  }

  /**
   * Settles deliveries whose job was lost (Redis lost its data, a job failed for good while the database was down)
   * and that no sweep can bring back: `pending` more than `graceMs` past its deadline becomes `skipped` (never
   * claimed, so never sent; `unknown` if an earlier attempt got a 5xx), and `sending` whose lease ended more than
   * `graceMs` ago becomes `unknown` with a new token, so that a worker still holding the old one cannot record over it.
   */
  async settleAbandoned(graceMs: number): Promise<{ skipped: number; unknown: number }> {
    const pending = await this.rows<{ state: string }>(
      `UPDATE deliveries SET updated_at = nudge_now(),
         state = CASE WHEN needs_lookup THEN 'unknown'::"DeliveryState" ELSE 'skipped'::"DeliveryState" END,
         reason = CASE WHEN needs_lookup
           THEN 'past its deadline after a provider 5xx that may have created the message; its job was lost'
           ELSE 'past its deadline ' || to_char(deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' with no attempt left (its job was lost)'
         END
       WHERE state = 'pending' AND deadline < nudge_now() - $1 * interval '1 millisecond'
       RETURNING state::text AS state`,
      [graceMs],
    );
    const orphaned = await this.rows(
      `UPDATE deliveries SET state = 'unknown', fencing_token = fencing_token + 1, lease_expires_at = NULL, updated_at = nudge_now(),
         reason = 'its claim expired without a recorded outcome (the worker died, stalled or lost its lock); the message may have been sent'
       WHERE state = 'sending' AND COALESCE(lease_expires_at, claimed_at) < nudge_now() - $1 * interval '1 millisecond'
       RETURNING id`,
      [graceMs],
    );
    const skipped = pending.filter((r) => r.state === "skipped").length;
    return { skipped, unknown: orphaned.length + pending.length - skipped };
  }
}
