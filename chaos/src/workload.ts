import { Client } from "pg";

/**
 * The plan the chaos fleet runs, in minutes: an email 60 s before the start, an SMS 36 s before, a call 18 s
 * before, so that every appointment escalates through all three steps within a run of a few minutes.
 */
export const CHAOS_PLAN = "email:1,sms:0.6,voice:0.3";
export const FIRST_LEAD_SECONDS = 60;
export const STEPS = 3;

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
       SELECT 'Chaos Person ' || i, '+1555' || lpad(i::text, 7, '0'), 'chaos' || i || '@example.com', 'chaos-' || i, 'UTC', now()
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

/** Business changes during the run: cancellations (cancel must win) and reschedules (new keys, old ones cancelled). */
export async function changeSomeAppointments(databaseUrl: string, count: number): Promise<{ cancelled: number; rescheduled: number }> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const cancelled = await client.query(
      `UPDATE appointments SET status = 'cancelled', updated_at = now()
       WHERE id IN (SELECT id FROM appointments WHERE status = 'scheduled' AND starts_at > now() + interval '20 seconds'
                    ORDER BY random() LIMIT $1)`,
      [Math.ceil(count / 2)],
    );
    const rescheduled = await client.query(
      `UPDATE appointments SET starts_at = starts_at + interval '10 seconds', updated_at = now()
       WHERE id IN (SELECT id FROM appointments WHERE status = 'scheduled' AND starts_at > now() + interval '20 seconds'
                    ORDER BY random() LIMIT $1)`,
      [Math.floor(count / 2)],
    );
    return { cancelled: cancelled.rowCount ?? 0, rescheduled: rescheduled.rowCount ?? 0 };
  } finally {
    await client.end();
  }
}
