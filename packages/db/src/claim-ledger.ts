import type { Channel, DeliveryState } from "@nudge/core";
import type { Pool } from "pg";
import { type Db, sqlPool } from "./client";

/** What a claim found. Only `claimed` may lead to a provider call, and only with the returned token. */
export type ClaimResult =
  | { kind: "claimed"; token: number; needsLookup: boolean; firstClaimedAt: Date; leaseMs: number }
  /** Another attempt holds a live lease: it may be sending right now. Come back after `retryInMs`. */
  | { kind: "leased"; retryInMs: number }
  /** Was `sending` with an expired lease: its holder died, stalled or lost its lock. Now `unknown`. */
  | { kind: "orphaned"; reason: string }
  | { kind: "settled"; state: DeliveryState; reason: string | null }
  | { kind: "cancelled"; reason: string }
  | { kind: "skipped"; reason: string }
  /** Past its deadline after a 5xx that may have created the message. */
  | { kind: "unknown"; reason: string };

/** A delivery the reconciler has to resolve. */
export interface UnresolvedDelivery {
  id: number;
  state: "unknown" | "pending";
  channel: Channel;
  recipient: string;
  subject: string | null;
  body: string;
  deadline: Date;
  resends: number;
  providerMessageId: string | null;
  /** What the provider reported about the message while it was being sent, if anything. */
  providerOutcome: "accepted" | "undelivered" | null;
  providerStatus: string | null;
  firstClaimedAt: Date | null;
  updatedAt: Date;
}

interface ClaimRow {
  outcome: "claimed" | "leased" | "orphaned" | "settled" | "cancelled" | "skipped" | "unknown";
  state: DeliveryState;
  reason: string | null;
  token: number;
  needs_lookup: boolean;
  first_claimed_at: Date;
  lease_ms: string;
}

/**
 * The claim and the record: the two halves of the send protocol, and the only statements that may move a delivery
 * into or out of `sending`. Only @nudge/send-guard uses this class (scripts/check-deps.ts enforces it). Neither ever
 * runs in a caller's transaction: a claim that a caller's rollback could undo after the send would be a resend.
 */
export class ClaimLedger {
  private readonly pool: Pool;

  constructor(db: Db) {
    this.pool = sqlPool(db);
  }

  private async count(sql: string, params: unknown[]): Promise<number> {
    return (await this.pool.query(sql, params)).rowCount ?? 0;
  }

  /**
   * `pending -> sending` with a new fencing token and a lease of `leaseMs` on the database's clock, in one call to
   * nudge_claim_delivery (see the send-guard migration): the still-wanted condition of the delivery's source, the
   * suppression list and the deadline are checked in the same transaction that claims. With `skipReason`, the same
   * call settles a waiting delivery as skipped instead (and reports what it is if it is not waiting).
   */
  async claimDelivery(id: number, leaseMs: number, skipReason?: string): Promise<ClaimResult> {
    const { rows } = await this.pool.query<ClaimRow>("SELECT * FROM nudge_claim_delivery($1, $2, $3)", [id, leaseMs, skipReason ?? null]);
    const row = rows[0]!;
    const reason = row.reason ?? "";
    switch (row.outcome) {
      case "claimed":
        return { kind: "claimed", token: row.token, needsLookup: row.needs_lookup, firstClaimedAt: row.first_claimed_at, leaseMs: Number(row.lease_ms) };
      case "leased":
        return { kind: "leased", retryInMs: Number(row.lease_ms) };
      case "settled":
        return { kind: "settled", state: row.state, reason: row.reason };
      case "orphaned":
      case "cancelled":
      case "skipped":
      case "unknown":
        return { kind: row.outcome, reason };
    }
  }

  /** The send was accepted. Recorded only by the holder of the current token. */
  async recordSent(id: number, token: number, providerMessageId: string, note?: string): Promise<boolean> {
    return this.settle(id, token, "sent", note ?? null, providerMessageId);
  }

  /**
   * The provider provably did not take the message: back to `pending`, to be claimed again by a retry. `afterSend`:
   * this was the answer to a send (a 5xx), so the lookup that must come first trusts the provider's list only once
   * its lag has passed since now (see msSinceLookupNeeded).
   */
  async recordNotAccepted(id: number, token: number, reason: string, needsLookup: boolean, options: { afterSend?: boolean } = {}): Promise<boolean> {
    const n = await this.count(
      `UPDATE deliveries SET state = 'pending', reason = $3, needs_lookup = (needs_lookup OR $4), lease_expires_at = NULL,
         lookup_since = CASE WHEN $4 AND $5 THEN nudge_now() ELSE lookup_since END, updated_at = nudge_now()
       WHERE id = $1 AND state = 'sending' AND fencing_token = $2`,
      [id, token, reason, needsLookup, options.afterSend === true],
    );
    return n === 1;
  }

  /** Milliseconds, by the database's clock, since the send whose 5xx made a lookup necessary; undefined if none recorded. */
  async msSinceLookupNeeded(id: number): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ ms: string | null }>(
      `SELECT floor(extract(epoch FROM nudge_now() - lookup_since) * 1000) AS ms FROM deliveries WHERE id = $1`,
      [id],
    );
    const ms = rows[0]?.ms;
    return ms === null || ms === undefined ? undefined : Number(ms);
  }

  /**
   * Gives the claim back without any provider call having started (the lease left too little time for one):
   * provably not sent, so `pending` again.
   */
  async releaseClaim(id: number, token: number, reason: string): Promise<boolean> {
    return this.recordNotAccepted(id, token, reason, false);
  }

  async recordFailed(id: number, token: number, reason: string): Promise<boolean> {
    return this.settle(id, token, "failed", reason);
  }

  async recordUnknown(id: number, token: number, reason: string): Promise<boolean> {
    return this.settle(id, token, "unknown", reason);
  }

  /**
   * Other deliveries to the same recipient on the same channel claimed since `since`: a call found in the
   * provider's list can be attributed to this delivery only when no other one could have made it.
   */
  async otherClaimsTo(id: number, channel: Channel, recipient: string, since: Date): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM deliveries
       WHERE recipient = $2 AND channel = $3::"Channel" AND id <> $1 AND first_claimed_at >= $4`,
      [id, recipient, channel, since],
    );
    return Number(rows[0]!.n);
  }

  /**
   * The deliveries whose outcome is unknown and that the reconciler may look at now: unknown for longer than
   * `settleMs` (`emailSettleMs` for email; the providers' lists lag; a message created at the last moment must have time to appear), not waiting
   * for an operator; and those it gave back to `pending` to send again (a retry after the provider refused the resend).
   * Oldest first.
   */
  async unresolved(settleMs: number, emailSettleMs: number, limit: number): Promise<UnresolvedDelivery[]> {
    const { rows } = await this.pool.query<UnresolvedDelivery>(
      `SELECT id, state::text AS state, channel::text AS channel, recipient, subject, body, deadline, resends,
              provider_message_id AS "providerMessageId", provider_outcome AS "providerOutcome", provider_status AS "providerStatus",
              first_claimed_at AS "firstClaimedAt", updated_at AS "updatedAt"
       FROM deliveries
       WHERE (state = 'unknown' AND awaiting_operator_since IS NULL
              AND updated_at <= nudge_now() - (CASE WHEN channel = 'email' THEN $2::int ELSE $1::int END) * interval '1 millisecond')
          OR (state = 'pending' AND resends > 0)
       ORDER BY updated_at LIMIT $3`,
      [settleMs, emailSettleMs, limit],
    );
    return rows;
  }

  /** unknown -> what the provider reported while the message was in flight: `sent`, or `undelivered`. */
  async resolveFromReport(id: number): Promise<boolean> {
    return (
      (await this.count(
        `UPDATE deliveries SET
           state = CASE provider_outcome WHEN 'accepted' THEN 'sent' ELSE 'undelivered' END::"DeliveryState",
           reason = CASE provider_outcome WHEN 'accepted' THEN 'confirmed by the provider (' || provider_status || ')'
                    ELSE 'not delivered: ' || provider_status END,
           sent_at = COALESCE(sent_at, provider_status_at), needs_lookup = false, awaiting_operator_since = NULL, updated_at = nudge_now()
         WHERE id = $1 AND state = 'unknown' AND provider_outcome IS NOT NULL`,
        [id],
      )) === 1
    );
  }

  /** unknown -> sent: the provider has the message (its list, its report). */
  async resolveSent(id: number, providerMessageId: string, reason: string): Promise<boolean> {
    return (
      (await this.count(
        `UPDATE deliveries SET state = 'sent', provider_message_id = $2, reason = $3, sent_at = COALESCE(sent_at, nudge_now()),
           needs_lookup = false, awaiting_operator_since = NULL, updated_at = nudge_now()
         WHERE id = $1 AND state = 'unknown'`,
        [id, providerMessageId, reason],
      )) === 1
    );
  }

  /**
   * unknown -> pending: the provider confirmed it never had the message, so it may be sent again, through the claim.
   * At most `maxResends` times over the delivery's life, and never once the provider has reported anything about it.
   */
  async reopenUnknown(id: number, reason: string, maxResends: number): Promise<"reopened" | "superseded" | undefined> {
    // A message that a later step of the same source and start has since replaced is not sent late: confirmed never
    // accepted, it ends skipped as superseded instead (the later step is the recipient's reminder).
    const { rows } = await this.pool.query<{ state: string }>(
      `UPDATE deliveries d SET
         state = CASE WHEN later.step IS NOT NULL THEN 'skipped' ELSE 'pending' END::"DeliveryState",
         reason = CASE WHEN later.step IS NOT NULL THEN 'superseded by step ' || later.step || ' (' || $2 || ')' ELSE $2 END,
         resends = d.resends + CASE WHEN later.step IS NOT NULL THEN 0 ELSE 1 END,
         needs_lookup = false, updated_at = nudge_now()
       FROM (SELECT max(l.step) AS step FROM deliveries o JOIN deliveries l
               ON l.source_type = o.source_type AND l.source_id = o.source_id AND l.appointment_starts_at = o.appointment_starts_at
                  AND l.step > o.step
             WHERE o.id = $1) later
       WHERE d.id = $1 AND d.state = 'unknown' AND d.resends < $3 AND d.provider_outcome IS NULL
       RETURNING d.state::text AS state`,
      [id, reason, maxResends],
    );
    const state = rows[0]?.state;
    return state === undefined ? undefined : state === "pending" ? "reopened" : "superseded";
  }

  /** unknown -> failed: no evidence can be had and the channel's policy gives up rather than risk a second message. */
  async giveUpUnknown(id: number, reason: string): Promise<boolean> {
    return (
      (await this.count(`UPDATE deliveries SET state = 'failed', reason = $2, updated_at = nudge_now() WHERE id = $1 AND state = 'unknown'`, [
        id,
        reason,
      ])) === 1
    );
  }

  /** The reconciler cannot decide (a call it cannot attribute): an operator must. Stays `unknown`, flagged. */
  async awaitOperator(id: number, reason: string): Promise<boolean> {
    return (
      (await this.count(
        `UPDATE deliveries SET awaiting_operator_since = nudge_now(), reason = $2, updated_at = nudge_now()
         WHERE id = $1 AND state = 'unknown' AND awaiting_operator_since IS NULL`,
        [id, reason],
      )) === 1
    );
  }

  /** Provider message ids that other deliveries already own: a call in the provider's list that is theirs is not this one. */
  async ownedMessageIds(ids: readonly string[], exceptDelivery: number): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT provider_message_id AS id FROM deliveries WHERE provider_message_id = ANY($1::text[]) AND id <> $2`,
      [ids, exceptDelivery],
    );
    return new Set(rows.map((r) => r.id));
  }

  private async settle(id: number, token: number, state: "sent" | "failed" | "unknown", reason: string | null, providerMessageId?: string): Promise<boolean> {
    // A provider report that arrived while the send was being recorded (the message could not be delivered) wins
    // over the plain `sent` of the record.
    const n = await this.count(
      `UPDATE deliveries SET
         state = CASE WHEN $3 = 'sent' AND provider_outcome = 'undelivered' THEN 'undelivered' ELSE $3 END::"DeliveryState",
         reason = CASE WHEN $3 = 'sent' AND provider_outcome = 'undelivered' THEN 'not delivered: ' || provider_status ELSE $4 END,
         provider_message_id = COALESCE($5, provider_message_id),
         sent_at = CASE WHEN $3 = 'sent' THEN nudge_now() END, lease_expires_at = NULL,
         needs_lookup = CASE WHEN $3 = 'sent' THEN false ELSE needs_lookup END, updated_at = nudge_now()
       WHERE id = $1 AND state = 'sending' AND fencing_token = $2`,
      [id, token, state, reason, providerMessageId ?? null],
    );
    return n === 1;
  }
}
