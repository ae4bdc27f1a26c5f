import { Client } from "pg";

/**
 * The plan the chaos fleet runs: an email 60 s before the start, an SMS 36 s before, a call 18 s before, so that
 * every appointment escalates through all three steps within a run of a few minutes. The checks need each step's
 * lead to know when a message was owed, so the plan string the apps parse (minutes) is derived from this table.
 */
export const CHAOS_STEPS = [
  { step: 1, channel: "email", leadSeconds: 60 },
  { step: 2, channel: "sms", leadSeconds: 36 },
  { step: 3, channel: "voice", leadSeconds: 18 },
] as const;
export const CHAOS_PLAN = CHAOS_STEPS.map((s) => `${s.channel}:${s.leadSeconds / 60}`).join(",");
export const FIRST_LEAD_SECONDS = CHAOS_STEPS[0].leadSeconds;
export const STEPS = CHAOS_STEPS.length;

/** What the suite itself did to the appointments mid-run: the only reasons a reminder may end `cancelled`. */
export interface BusinessChanges {
  cancelled: number[];
  /** Each reschedule, with the start it moved the appointment away from. */
  rescheduled: Array<{ id: number; from: Date }>;
}

/**
 * One contact per appointment, each with its own phone and email: any second message a provider accepted for the
 * same (provider, recipient) is then a duplicate, whatever the ledger says. Starts are spread over the window,
 * beginning after the first lead time so that every step becomes due during the run.
 */
export async function seedWorkload(databaseUrl: string, appointments: number, startAt: Date, windowSeconds: number): Promise<void> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO contacts (name, phone, email, hubspot_id, timezone, updated_at)
       SELECT 'Chaos Person ' || i, '+1555' || lpad(i::text, 7, '0'), 'chaos' || i || '@example.com', NULL, 'UTC', now()
       FROM generate_series(1, $1::int) AS i`,
      [appointments],
    );
    await client.query(
      `INSERT INTO appointments (contact_id, starts_at, status, updated_at)
       SELECT id, date_trunc('second', $1::timestamptz + (random() * $2::float8) * interval '1 second'), 'scheduled', now()
       FROM contacts`,
      [startAt.toISOString(), windowSeconds],
    );
  } finally {
    await client.end();
  }
}

/**
 * Business changes during the run: cancellations (cancel must win) and reschedules (new keys, old ones cancelled).
 * Both in one transaction, so that a failure (a fault may cut the connection) changes nothing the suite does not
 * know about; the ids it returns are what the checks accept as a reason for a `cancelled` reminder.
 */
export async function changeSomeAppointments(databaseUrl: string, count: number): Promise<BusinessChanges> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("BEGIN");
    const cancelled = await client.query<{ id: number }>(
      `UPDATE appointments SET status = 'cancelled', updated_at = now()
       WHERE id IN (SELECT id FROM appointments WHERE status = 'scheduled' AND starts_at > now() + interval '20 seconds'
                    ORDER BY random() LIMIT $1)
       RETURNING id`,
      [Math.ceil(count / 2)],
    );
    const rescheduled = await client.query<{ id: number; from: Date }>(
      `UPDATE appointments a SET starts_at = old.starts_at + interval '10 seconds', updated_at = now()
       FROM (SELECT id, starts_at FROM appointments WHERE status = 'scheduled' AND starts_at > now() + interval '20 seconds'
             ORDER BY random() LIMIT $1) old
       WHERE a.id = old.id
       RETURNING a.id, old.starts_at AS "from"`,
      [Math.floor(count / 2)],
    );
    await client.query("COMMIT");
    return { cancelled: cancelled.rows.map((r) => r.id), rescheduled: rescheduled.rows };
  } finally {
    await client.end();
  }
}
