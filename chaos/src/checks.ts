import type { SimRecord } from "@nudge/simulator";
import { Client } from "pg";
import { STEPS } from "./workload";

export interface Verdict {
  messages: number;
  sent: number;
  states: Record<string, number>;
  /** Messages a provider accepted more than once: (provider, recipient) pairs and delivery ids. */
  duplicates: string[];
  /** Due messages not in a terminal state, or appointments whose last reminder step never got a delivery. */
  lost: string[];
  /** Deliveries the ledger calls sent that no provider accepted. */
  phantoms: string[];
  unknownUnresolved: number;
  maxPerRecipientHour: number;
}

const HOUR = 3_600_000;

/** The end-of-run checks, from the simulator's record (the ground truth of what was sent) and the ledger. */
export async function checkRun(databaseUrl: string, records: readonly SimRecord[]): Promise<Verdict> {
  const messagesOut = records.filter((r) => r.provider !== "hubspot");
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    // Each contact has one appointment, so a second message on the same channel to the same recipient is a
    // duplicate whatever the ledger says, except for a rescheduled appointment (a new start is a new fact).
    const rescheduled = await client.query<{ recipient: string }>(
      "SELECT recipient FROM deliveries GROUP BY recipient HAVING count(DISTINCT appointment_starts_at) > 1",
    );
    const exempt = new Set(rescheduled.rows.map((r) => r.recipient));
    const duplicates: string[] = [];
    for (const [key, n] of countBy(messagesOut.filter((r) => !exempt.has(r.to)), (r) => `${r.provider} -> ${r.to}`)) {
      if (n > 1) duplicates.push(`${key} accepted ${n} times`);
    }
    for (const [key, n] of countBy(messagesOut.filter((r) => r.deliveryId), (r) => r.deliveryId!)) {
      if (n > 1) duplicates.push(`delivery ${key} accepted ${n} times`);
    }

    const states = await client.query<{ state: string; n: string }>("SELECT state::text, count(*) AS n FROM deliveries GROUP BY 1");
    const unsettled = await client.query<{ idempotency_key: string; state: string }>(
      "SELECT idempotency_key, state::text FROM deliveries WHERE state IN ('pending', 'sending') ORDER BY id",
    );
    // Every appointment that stayed scheduled reached its start during the run: its last step must have a delivery.
    const neverAttempted = await client.query<{ id: number; starts_at: Date }>(
      `SELECT a.id, a.starts_at FROM appointments a
       WHERE a.status = 'scheduled' AND NOT EXISTS (
         SELECT 1 FROM deliveries d WHERE d.appointment_id = a.id AND d.step = $1 AND d.appointment_starts_at = a.starts_at)
       ORDER BY a.id`,
      [STEPS],
    );
    const sent = await client.query<{ idempotency_key: string; provider_message_id: string }>(
      "SELECT idempotency_key, provider_message_id FROM deliveries WHERE state = 'sent'",
    );
    const accepted = new Set(messagesOut.map((r) => r.id));
    const byState = Object.fromEntries(states.rows.map((r) => [r.state, Number(r.n)]));
    return {
      messages: Object.values(byState).reduce((a, b) => a + b, 0),
      sent: byState.sent ?? 0,
      states: byState,
      duplicates,
      lost: [
        ...unsettled.rows.map((r) => `${r.idempotency_key} still ${r.state}`),
        ...neverAttempted.rows.map((r) => `appointment ${r.id} (${r.starts_at.toISOString()}): step ${STEPS} never got a delivery`),
      ],
      phantoms: sent.rows.filter((r) => !accepted.has(r.provider_message_id)).map((r) => `${r.idempotency_key} (${r.provider_message_id})`),
      unknownUnresolved: byState.unknown ?? 0,
      maxPerRecipientHour: maxInAnyHour(messagesOut),
    };
  } finally {
    await client.end();
  }
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** The most messages any one recipient (phone number or address) received within a sliding hour. */
function maxInAnyHour(records: readonly SimRecord[]): number {
  const times = new Map<string, number[]>();
  for (const r of records) {
    const list = times.get(r.to) ?? [];
    list.push(Date.parse(r.at));
    times.set(r.to, list);
  }
  let max = 0;
  for (const list of times.values()) {
    list.sort((a, b) => a - b);
    for (let lo = 0, hi = 0; hi < list.length; hi++) {
      while (list[hi]! - list[lo]! >= HOUR) lo++;
      max = Math.max(max, hi - lo + 1);
    }
  }
  return max;
}
