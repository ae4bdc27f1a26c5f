import { randomUUID } from "node:crypto";
import { type Db, sqlPool } from "@nudge/db";

/**
 * How long a request may hold its key before another request with the same key and body may take it over. It only
 * matters when the process holding it died (a live one completes or gives the key back within the request), and a
 * takeover cannot make a second message: the request is applied under the same (source, key) in relay_requests,
 * which is unique, so the takeover finds what the first did.
 */
export const IDEMPOTENCY_LEASE_MS = 60_000;

/**
 * DATABASE_URL for the pool that claims and completes keys: its sessions commit with synchronous_commit off, so a
 * claim and a stored answer do not each wait for a WAL flush (two of a request's three commits). Nothing is lost by
 * it: the claim's WAL comes before the request's own commit, which is flushed as always, so whenever the request is
 * durable so is its claim; and a stored answer lost in a Postgres crash leaves the key `processing`, whose lease ends
 * and whose retry rebuilds the same answer from relay_requests (the answer is derived from the record, not stored
 * only here).
 */
export function keysDatabaseUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  const options = url.searchParams.get("options");
  url.searchParams.set("options", `${options ? `${options} ` : ""}-c synchronous_commit=off`);
  return url.toString();
}

/** A stored first answer: status and body exactly as sent. */
export interface StoredResponse {
  statusCode: number;
  body: string;
}

export type KeyClaim =
  /** This request holds the key: apply it, then complete() or release(). `sequence` orders it among the API's requests. */
  | { kind: "owned"; id: string; owner: string; sequence: string }
  /** The key answered before: send the stored response again. */
  | { kind: "replay"; response: StoredResponse }
  /** The key was used with another request (another route or body). */
  | { kind: "mismatch" }
  /** The key's first request is still in flight. */
  | { kind: "in-flight"; retryAfterSeconds: number };

/**
 * Stripe's idempotency keys, per source, on Postgres. A key's row is claimed with one statement (INSERT, or a takeover
 * of a `processing` row whose lease has run out), so of any number of concurrent requests with one key exactly one
 * holds it; the others see it `processing` (409) or `done` (the stored answer). The claim commits at once, on its
 * own: a held transaction would tie up a connection per request in flight, and a pool of them could deadlock with
 * the request's own transaction.
 */
export class IdempotencyStore {
  constructor(private readonly db: Db) {}

  async claim(source: string, key: string, requestHash: string): Promise<KeyClaim> {
    const owner = randomUUID();
    const pool = sqlPool(this.db);
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO api_idempotency (source, idempotency_key, request_hash, state, owner, locked_until)
       VALUES ($1, $2, $3, 'processing', $4, nudge_now() + $5 * interval '1 millisecond')
       ON CONFLICT (source, idempotency_key) DO UPDATE
         SET owner = EXCLUDED.owner, locked_until = EXCLUDED.locked_until, updated_at = nudge_now()
         WHERE api_idempotency.state = 'processing' AND api_idempotency.locked_until < nudge_now()
           AND api_idempotency.request_hash = EXCLUDED.request_hash
       RETURNING id::text AS id`,
      [source, key, requestHash, owner, IDEMPOTENCY_LEASE_MS],
    );
    if (rows[0]) return { kind: "owned", id: rows[0].id, owner, sequence: rows[0].id };
    const existing = await pool.query<{ requestHash: string; state: string; statusCode: number | null; body: string | null; leftMs: number | null }>(
      `SELECT request_hash AS "requestHash", state, status_code AS "statusCode", response_body AS body,
              GREATEST(0, EXTRACT(EPOCH FROM locked_until - nudge_now()) * 1000)::float8 AS "leftMs"
       FROM api_idempotency WHERE source = $1 AND idempotency_key = $2`,
      [source, key],
    );
    const row = existing.rows[0];
    // Gone between the two statements: its request failed and gave the key back. Try again from the start.
    if (!row) return this.claim(source, key, requestHash);
    if (row.requestHash !== requestHash) return { kind: "mismatch" };
    if (row.state === "done") return { kind: "replay", response: { statusCode: row.statusCode!, body: row.body! } };
    // Expired between the statements: the next claim takes it over.
    if ((row.leftMs ?? 0) <= 0) return this.claim(source, key, requestHash);
    return { kind: "in-flight", retryAfterSeconds: 1 };
  }

  /** Stores the answer for every later request with this key. False when another request took the key over. */
  async complete(claim: { id: string; owner: string }, response: StoredResponse): Promise<boolean> {
    const { rowCount } = await sqlPool(this.db).query(
      `UPDATE api_idempotency SET state = 'done', status_code = $3, response_body = $4, owner = NULL, locked_until = NULL, updated_at = nudge_now()
       WHERE id = $1 AND owner = $2 AND state = 'processing'`,
      [claim.id, claim.owner, response.statusCode, response.body],
    );
    return (rowCount ?? 0) > 0;
  }

  /**
   * Gives the key back after a failure that applied nothing the client was told of (a 5xx): as with Stripe, a 5xx is
   * not stored, and the client's retry runs the request again (finding in relay_requests whatever did commit).
   */
  async release(claim: { id: string; owner: string }): Promise<void> {
    await sqlPool(this.db).query(`DELETE FROM api_idempotency WHERE id = $1 AND owner = $2 AND state = 'processing'`, [claim.id, claim.owner]);
  }
}
