import type { Channel, Clock, DeliveryState } from "@nudge/core";
import type { Pool, QueryResultRow } from "pg";
import { type Db, sqlPool } from "./client";

export interface DeliveryRecord {
  id: number;
  idempotencyKey: string;
  state: DeliveryState;
  reason: string | null;
  fencingToken: number;
  channel: Channel;
  recipient: string;
  body: string;
  contactId: number;
  appointmentId: number | null;
  step: number;
  deadline: Date;
  providerMessageId: string | null;
  needsLookup: boolean;
  firstClaimedAt: Date | null;
}

export interface NewReminderDelivery {
  idempotencyKey: string;
  contactId: number;
  appointmentId: number;
  appointmentStartsAt: Date;
  step: number;
  channel: Channel;
  recipient: string;
  body: string;
  deadline: Date;
}

/** What a claim found. Only `claimed` may lead to a provider call, and only with the returned token. */
export type ClaimResult =
  | { kind: "claimed"; token: number; needsLookup: boolean; firstClaimedAt: Date }
  | { kind: "settled"; state: DeliveryState; reason: string | null }
  /** Was `sending`: an earlier holder died or lost its lock between claim and record. Now `unknown`. */
  | { kind: "orphaned" }
  | { kind: "cancelled"; reason: string }
  | { kind: "skipped"; reason: string };

const SELECT_DELIVERY = `
  SELECT id, idempotency_key AS "idempotencyKey", state::text AS state, reason, fencing_token AS "fencingToken",
         channel::text AS channel, recipient, body, contact_id AS "contactId", appointment_id AS "appointmentId", step,
         deadline, provider_message_id AS "providerMessageId", needs_lookup AS "needsLookup",
         first_claimed_at AS "firstClaimedAt"
  FROM deliveries`;

/** $1..$9 of the statements that create a delivery, in column order. */
function insertParams(input: NewReminderDelivery): unknown[] {
  return [
    input.idempotencyKey,
    input.contactId,
    input.appointmentId,
    input.appointmentStartsAt,
    input.step,
    input.channel,
    input.recipient,
    input.body,
    input.deadline,
  ];
}

/**
 * The send ledger: every state change of a delivery is one guarded SQL statement, so that the database, not the
 * worker's memory, decides whether a message may be sent. See @nudge/core's delivery-state for the machine.
 */
export class DeliveryLedger {
  private readonly pool: Pool;

  constructor(
    db: Db,
    private readonly clock: Clock,
  ) {
    this.pool = sqlPool(db);
  }

  private async rows<T extends QueryResultRow>(sql: string, params: unknown[]): Promise<T[]> {
    return (await this.pool.query<T>(sql, params)).rows;
  }

  private async count(sql: string, params: unknown[]): Promise<number> {
    return (await this.pool.query(sql, params)).rowCount ?? 0;
  }

  async byKey(idempotencyKey: string): Promise<DeliveryRecord | undefined> {
    return (await this.rows<DeliveryRecord>(`${SELECT_DELIVERY} WHERE idempotency_key = $1`, [idempotencyKey]))[0];
  }

  async byId(id: number): Promise<DeliveryRecord | undefined> {
    return (await this.rows<DeliveryRecord>(`${SELECT_DELIVERY} WHERE id = $1`, [id]))[0];
  }

  /**
   * The worker's DB advance, one transaction: create this reminder's delivery if absent (the unique key makes a
   * second creation a no-op) and retire earlier steps of the same appointment that are still waiting, so that a
   * backlog collapses into the latest, most useful reminder instead of a burst.
   */
  async advanceReminder(input: NewReminderDelivery): Promise<DeliveryRecord> {
    const now = this.clock.now();
    // One statement (one round trip, one commit). The final SELECT cannot see the row the CTE inserts (same
    // snapshot), hence the union with what the INSERT returned.
    const rows = await this.rows<DeliveryRecord>(
      `WITH inserted AS (
         INSERT INTO deliveries (idempotency_key, contact_id, appointment_id, appointment_starts_at, step, channel,
                                 recipient, body, deadline, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6::"Channel", $7, $8, $9, $10, $10)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING *
       ), superseded AS (
         UPDATE deliveries SET state = 'skipped', reason = 'superseded by step ' || $5::int, updated_at = $10
         WHERE appointment_id = $3 AND step < $5 AND state = 'pending'
       ), result AS (
         SELECT * FROM inserted
         UNION ALL
         SELECT * FROM deliveries WHERE idempotency_key = $1 AND NOT EXISTS (SELECT 1 FROM inserted)
       )
       ${SELECT_DELIVERY.replace("FROM deliveries", "FROM result")}`,
      [...insertParams(input), now],
    );
    return rows[0]!;
  }

  /**
   * `pending -> sending` with a new fencing token, in one statement that also checks the deadline and that the
   * appointment is still scheduled for the start this reminder was made for. Cancel wins: once a cancellation
   * commits, this statement cannot succeed, so no later send can happen.
   */
  async claim(id: number): Promise<ClaimResult> {
    const now = this.clock.now();
    const claimed = await this.rows<{ token: number; needsLookup: boolean; firstClaimedAt: Date }>(
      `UPDATE deliveries d
       SET state = 'sending', fencing_token = d.fencing_token + 1, attempts = d.attempts + 1, claimed_at = $2,
           first_claimed_at = COALESCE(d.first_claimed_at, $2), updated_at = $2
       WHERE d.id = $1 AND d.state = 'pending' AND d.deadline > $2
         AND (d.appointment_id IS NULL OR EXISTS (
               SELECT 1 FROM appointments a
               WHERE a.id = d.appointment_id AND a.status = 'scheduled' AND a.starts_at = d.appointment_starts_at))
       RETURNING d.fencing_token AS token, d.needs_lookup AS "needsLookup", d.first_claimed_at AS "firstClaimedAt"`,
      [id, now],
    );
    if (claimed[0]) return { kind: "claimed", ...claimed[0] };
    return this.explainFailedClaim(id, now);
  }

  /**
   * Skips a delivery that must not be sent (no address, superseded). When it is no longer pending, reports what it
   * is instead, turning an orphaned `sending` into `unknown` exactly as a claim would.
   */
  async skip(id: number, reason: string): Promise<Exclude<ClaimResult, { kind: "claimed" }>> {
    if (await this.settlePending(id, "skipped", reason)) return { kind: "skipped", reason };
    return this.explainFailedClaim(id, this.clock.now(), reason);
  }

  private async explainFailedClaim(id: number, now: Date, skipReason?: string): Promise<Exclude<ClaimResult, { kind: "claimed" }>> {
    const rows = await this.rows<{
      state: DeliveryState;
      reason: string | null;
      token: number;
      deadline: Date;
      status: string | null;
      startsMatch: boolean | null;
    }>(
      `SELECT d.state::text AS state, d.reason, d.fencing_token AS token, d.deadline, a.status::text AS status,
              (a.starts_at = d.appointment_starts_at) AS "startsMatch"
       FROM deliveries d LEFT JOIN appointments a ON a.id = d.appointment_id
       WHERE d.id = $1`,
      [id],
    );
    const row = rows[0];
    if (!row) throw new Error(`Delivery ${id} does not exist`);
    if (row.state === "sending") {
      const moved = await this.count(
        `UPDATE deliveries SET state = 'unknown', fencing_token = fencing_token + 1, updated_at = $3,
           reason = 'claimed by an attempt that never recorded an outcome (worker crashed or lost its lock); the message may have been sent'
         WHERE id = $1 AND state = 'sending' AND fencing_token = $2`,
        [id, row.token, now],
      );
      return moved ? { kind: "orphaned" } : this.explainFailedClaim(id, now, skipReason);
    }
    if (row.state !== "pending") return { kind: "settled", state: row.state, reason: row.reason };
    const cancelReason =
      row.status !== null && row.status !== "scheduled"
        ? `appointment ${row.status}`
        : row.startsMatch === false
          ? "appointment rescheduled"
          : undefined;
    const [state, reason] = cancelReason
      ? (["cancelled", cancelReason] as const)
      : (["skipped", skipReason ?? `past its deadline ${row.deadline.toISOString()}`] as const);
    const moved = await this.count(
      `UPDATE deliveries SET state = '${state}', reason = $2, updated_at = $3 WHERE id = $1 AND state = 'pending'`,
      [id, reason, now],
    );
    if (!moved) return this.explainFailedClaim(id, now, skipReason);
    return state === "cancelled" ? { kind: "cancelled", reason } : { kind: "skipped", reason };
  }

  /** The send was accepted. Recorded only by the holder of the current token. */
  async recordSent(id: number, token: number, providerMessageId: string): Promise<boolean> {
    const now = this.clock.now();
    const n = await this.count(
      `UPDATE deliveries SET state = 'sent', provider_message_id = $3, sent_at = $4, needs_lookup = false, reason = NULL, updated_at = $4
       WHERE id = $1 AND state = 'sending' AND fencing_token = $2`,
      [id, token, providerMessageId, now],
    );
    return n === 1;
  }

  /** The provider provably did not take the message: back to `pending`, to be claimed again by a retry. */
  async recordNotAccepted(id: number, token: number, reason: string, needsLookup: boolean): Promise<boolean> {
    const now = this.clock.now();
    const n = await this.count(
      `UPDATE deliveries SET state = 'pending', reason = $3, needs_lookup = (needs_lookup OR $4), updated_at = $5
       WHERE id = $1 AND state = 'sending' AND fencing_token = $2`,
      [id, token, reason, needsLookup, now],
    );
    return n === 1;
  }

  async recordFailed(id: number, token: number, reason: string): Promise<boolean> {
    return this.settleClaimed(id, token, "failed", reason);
  }

  async recordUnknown(id: number, token: number, reason: string): Promise<boolean> {
    return this.settleClaimed(id, token, "unknown", reason);
  }

  /**
   * Settles a delivery that was never claimed: `skipped` (nothing to send to) or `failed` (retries exhausted before
   * the send), always with the reason.
   */
  async settlePending(id: number, state: "failed" | "skipped", reason: string): Promise<boolean> {
    const now = this.clock.now();
    const n = await this.count(
      `UPDATE deliveries SET state = '${state}', reason = $2, updated_at = $3 WHERE id = $1 AND state = 'pending'`,
      [id, reason, now],
    );
    return n === 1;
  }

  /** Records a reminder whose job was lost and that can no longer be sent as `skipped`, so it is not lost silently. */
  async recordLost(input: NewReminderDelivery, reason: string): Promise<boolean> {
    const now = this.clock.now();
    const n = await this.count(
      `INSERT INTO deliveries (idempotency_key, contact_id, appointment_id, appointment_starts_at, step, channel,
                               recipient, body, deadline, state, reason, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6::"Channel", $7, $8, $9, 'skipped', $10, $11, $11)
       ON CONFLICT (idempotency_key) DO NOTHING`,
      [...insertParams(input), reason, now],
    );
    return n === 1;
  }

  /**
   * Settles deliveries whose job was lost (Redis lost its data, a job failed for good while the database was down)
   * and that no sweep can bring back because their appointment has started: `pending` past its deadline becomes
   * `skipped` (never claimed, so never sent), and `sending` claimed longer ago than `abandonedAfterMs` becomes
   * `unknown` with a new token, so that a worker still holding the old one cannot record over it.
   */
  async settleAbandoned(abandonedAfterMs: number): Promise<{ skipped: number; unknown: number }> {
    const now = this.clock.now();
    const before = new Date(now.getTime() - abandonedAfterMs);
    const skipped = await this.count(
      `UPDATE deliveries SET state = 'skipped', updated_at = $2,
         reason = 'past its deadline ' || to_char(deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' with no attempt left (its job was lost)'
       WHERE state = 'pending' AND deadline < $1`,
      [before, now],
    );
    const unknown = await this.count(
      `UPDATE deliveries SET state = 'unknown', fencing_token = fencing_token + 1, updated_at = $2,
         reason = 'claimed by an attempt that never recorded an outcome (worker crashed or lost its lock); the message may have been sent'
       WHERE state = 'sending' AND claimed_at < $1`,
      [before, now],
    );
    return { skipped, unknown };
  }

  private async settleClaimed(id: number, token: number, state: "failed" | "unknown", reason: string): Promise<boolean> {
    const now = this.clock.now();
    const n = await this.count(
      `UPDATE deliveries SET state = '${state}', reason = $3, updated_at = $4 WHERE id = $1 AND state = 'sending' AND fencing_token = $2`,
      [id, token, reason, now],
    );
    return n === 1;
  }
}
