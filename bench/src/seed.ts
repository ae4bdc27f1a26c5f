import type { Client } from "pg";

/**
 * `count` contacts (unique fictional phone, email and HubSpot id each) with one scheduled appointment each, starting
 * `startsInMinutes` from now: at 90 minutes the SMS step (2 h lead) is the latest one due, so every appointment
 * yields exactly one SMS reminder. One INSERT ... SELECT per table: a million rows in seconds, not an hour.
 */
export async function seedDueSmsAppointments(sql: Client, count: number, startsInMinutes = 90): Promise<void> {
  await seedContacts(sql, count);
  // Whole seconds: reminder keys carry the start at second precision.
  await sql.query(
    `INSERT INTO appointments (contact_id, starts_at, status, updated_at)
     SELECT id, date_trunc('second', now() + make_interval(mins => $1::int)), 'scheduled', now()
     FROM contacts ORDER BY id`,
    [startsInMinutes],
  );
  // Fresh tables have no statistics; without them the first pass's plan is a guess.
  await sql.query("ANALYZE contacts");
  await sql.query("ANALYZE appointments");
}

/** `count` contacts with a unique fictional phone, email and HubSpot id each, ids 1..count on a fresh database. */
export async function seedContacts(sql: Client, count: number): Promise<void> {
  await sql.query(
    `INSERT INTO contacts (name, phone, email, hubspot_id, timezone, updated_at)
     SELECT 'Person ' || i, '+1555' || lpad(i::text, 7, '0'), 'person' || i || '@example.com', (100000000 + i)::text, 'UTC', now()
     FROM generate_series(1, $1::int) AS i`,
    [count],
  );
}

/** Deliveries by state, e.g. { sent: 20000 }: what the ledger says happened. */
export async function deliveryStates(sql: Client): Promise<Record<string, number>> {
  const { rows } = await sql.query<{ state: string; n: string }>("SELECT state::text, count(*) AS n FROM deliveries GROUP BY 1");
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

/** Why deliveries did not end `sent`, most frequent first: the evidence behind a count that does not add up. */
export async function unsentReasons(sql: Client, limit = 5): Promise<string[]> {
  const { rows } = await sql.query<{ state: string; reason: string | null; n: string }>(
    `SELECT state::text, reason, count(*) AS n FROM deliveries WHERE state <> 'sent' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT $1`,
    [limit],
  );
  return rows.map((r) => `${r.n} x ${r.state}: ${r.reason ?? "(no reason)"}`);
}
