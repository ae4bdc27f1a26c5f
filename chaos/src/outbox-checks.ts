import { SOURCE } from "@nudge/example-signup-service";
import type { SimRecord } from "@nudge/simulator";
import type { Client } from "pg";
import type { FaultWindow } from "./fault-log";
import { type SignupOutcomes, WELCOME_SUBJECT } from "./outbox-workload";

/**
 * The outbox workload's verdict, from the simulator's record: every user whose signup committed owes one welcome
 * email, a rolled-back signup none. One-off messages get the relay's default deadline (24 h), far longer than the
 * run, and the suite injects no permanent rejection, so nothing excuses a missing welcome email: by the end of the
 * drain it must have been accepted, once. Nudge's ledger and the service's outbox are read only for evidence.
 */
export interface OutboxVerdict {
  signups: number;
  committed: number;
  rolledBack: number;
  /** Signups whose call failed for another reason than their own rollback (their outcome settled by a lookup). */
  ambiguous: number;
  /** Committed users whose welcome email a provider accepted at least once. */
  accepted: number;
  /** A committed user's welcome email accepted more than once. */
  duplicates: string[];
  /** A committed user with no welcome email accepted (one whose own delivery is still `unknown` is reported with the unknowns). */
  lost: string[];
  /** A welcome email accepted for a signup that rolled back, or that nobody signed up for. */
  leaked: string[];
  /** Welcome emails first accepted while a fault, or its aftermath, was active. */
  underFaults: number;
}

export async function checkOutbox(
  client: Client,
  callerClient: Client,
  messagesOut: readonly SimRecord[],
  faultWindows: readonly FaultWindow[],
  signups: SignupOutcomes,
): Promise<OutboxVerdict> {
  const accepted = new Map<string, SimRecord[]>();
  const leaked: string[] = [];
  for (const r of messagesOut) {
    const match = r.provider === "sendgrid" ? WELCOME_SUBJECT.exec(r.subject ?? "") : null;
    if (!match) continue;
    const what = `${r.provider} ${r.id} to ${r.to} at ${r.at} ("${r.subject}", delivery ${r.deliveryId ?? "none"})`;
    const user = signups.committed.get(r.to);
    if (!user) {
      const rolledBack = signups.rolledBack.get(r.to);
      leaked.push(`${what}: ${rolledBack ? `${rolledBack}'s signup rolled back` : "nobody signed up with this address"}`);
    } else if (user.name !== match[1]) {
      leaked.push(`${what}: ${r.to} belongs to ${user.name}`);
    } else {
      accepted.set(r.to, [...(accepted.get(r.to) ?? []), r]);
    }
  }

  const verdict: OutboxVerdict = {
    signups: signups.attempted,
    committed: signups.committed.size,
    rolledBack: signups.rolledBack.size,
    ambiguous: signups.ambiguous,
    accepted: 0,
    duplicates: [],
    lost: [],
    leaked,
    underFaults: 0,
  };
  const missing: Array<{ email: string; name: string; key: string }> = [];
  for (const [email, { name, userId }] of signups.committed) {
    const key = `welcome-user-${userId}`;
    const records = accepted.get(email) ?? [];
    if (records.length > 1) {
      verdict.duplicates.push(
        `${SOURCE}/${key} (${name}, ${email}) accepted ${records.length} times: ${records.map((r) => `${r.id} (delivery ${r.deliveryId}) at ${r.at}`).join(", ")}`,
      );
    }
    if (records.length === 0) {
      missing.push({ email, name, key });
      continue;
    }
    verdict.accepted++;
    const at = Math.min(...records.map((r) => Date.parse(r.at)));
    if (faultWindows.some((w) => w.from <= at && at <= w.to)) verdict.underFaults++;
  }
  if (missing.length === 0) return verdict;

  // Evidence for what the simulator shows missing: the outbox row, the request, the message and its delivery.
  const keys = missing.map((m) => m.key);
  const outbox = new Map(
    (
      await callerClient.query<{ key: string; relayedAt: Date | null; attempts: number; lastError: string | null }>(
        `SELECT idempotency_key AS key, relayed_at AS "relayedAt", attempts, last_error AS "lastError"
         FROM nudge_outbox WHERE source = $1 AND idempotency_key = ANY($2::text[])`,
        [SOURCE, keys],
      )
    ).rows.map((r) => [r.key, r]),
  );
  const ledger = new Map(
    (
      await client.query<{ key: string; outcome: string; messageId: number | null; enqueued: boolean | null; deliveryId: number | null; state: string | null; reason: string | null }>(
        `SELECT r.idempotency_key AS key, r.outcome, m.id AS "messageId", m.enqueued, d.id AS "deliveryId", d.state::text AS state, d.reason
         FROM relay_requests r
         LEFT JOIN one_off_messages m ON m.request_id = r.id
         LEFT JOIN deliveries d ON d.idempotency_key = 'oneoff.msg-' || m.id
         WHERE r.source = $1 AND r.idempotency_key = ANY($2::text[])`,
        [SOURCE, keys],
      )
    ).rows.map((r) => [r.key, r]),
  );
  for (const { email, name, key } of missing) {
    const row = ledger.get(key);
    if (row?.state === "unknown") continue;
    const o = outbox.get(key);
    const source = !o
      ? "no outbox row in the service's database"
      : `outbox row ${o.relayedAt ? `relayed at ${o.relayedAt.toISOString()}` : "never relayed"} after ${o.attempts} attempt(s)${o.lastError ? ` (${o.lastError})` : ""}`;
    const nudge = !row
      ? "no request in Nudge's database"
      : `request ${row.outcome}; ${
          row.messageId === null
            ? "no one-off message"
            : `one-off message ${row.messageId} (enqueued ${row.enqueued}), ${row.deliveryId === null ? "no delivery" : `delivery ${row.deliveryId} ${row.state}${row.reason ? ` (${row.reason})` : ""}`}`
        }`;
    verdict.lost.push(`${SOURCE}/${key} (${name}, ${email}): no welcome email accepted; ${source}; ${nudge}`);
  }
  return verdict;
}
