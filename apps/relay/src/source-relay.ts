import type { OneOffHandoff } from "@nudge/db";
import type { Logger } from "@nudge/logger";
import type { RelaySource } from "./env";
import type { RelayFailpointHook } from "./failpoints";
import type { OneOffEnqueuer } from "./one-off-enqueuer";
import { OutboxListener } from "./outbox-listener";
import { outageRetryDelayMs } from "./outage-retry";
import type { OutboxRow } from "./outbox-row";
import { PartialBatchError } from "./partial-batch-error";
import type { ApplyResult, RequestApplier } from "./request-applier";
import { rollback, type SqlPool } from "./sql-pool";
import { WakeSignal } from "./wake-signal";

const PRUNE_CHUNK = 1_000;

/**
 * A batch's outbox transaction (one round trip: the simple query protocol takes several statements).
 *  - `synchronous_commit` off: losing the marks of a commit the caller's database acknowledged but had not flushed
 *    when it crashed costs nothing but a second relay of those rows, which Nudge's database recognises by their keys
 *    (and Nudge's own transaction, which must be durable before the mark, is committed with its own settings).
 *  - No bitmap or sequential scans: an outbox is a queue, whose statistics are always stale (a burst of rows the
 *    planner has not seen), and planned from them a claim read and sorted every unrelayed row to return a batch;
 *    walking the partial index of unrelayed rows in id order stops after the batch. Every statement of the
 *    transaction finds its rows by id.
 */
const BEGIN_BATCH = "BEGIN; SET LOCAL synchronous_commit = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off";

export interface SourceRelayOptions {
  source: RelaySource;
  /** A pool on the source's database: one connection per batch loop, one for LISTEN, one for pruning. */
  pool: SqlPool;
  applier: RequestApplier;
  enqueuer: OneOffEnqueuer;
  logger: Logger;
  batchSize: number;
  /**
   * Batch loops at once on this source, each in a transaction of its own: while one waits for Nudge's database,
   * another claims or marks. They take disjoint rows (SKIP LOCKED) exactly as separate relay processes do, so what
   * holds for several relays holds for them. Default 1.
   */
  concurrency?: number;
  pollMs: number;
  retentionHours: number;
  pruneIntervalMs: number;
  failpoint: RelayFailpointHook;
}

export interface BatchReport {
  /** Outbox rows this batch locked. */
  claimed: number;
  applied: number;
  /** Requests Nudge's database had already (an earlier attempt died before marking its row). */
  duplicates: number;
  superseded: number;
  refused: number;
  /** Rows naming another source than their database's: refused, never applied. */
  forged: number;
}

/**
 * The relay of one caller's database. A batch is one transaction on the caller's outbox: it locks unrelayed rows
 * and marks them relayed (FOR UPDATE SKIP LOCKED, so that relays running at once take disjoint batches), writes the
 * batch's requests into Nudge's database in one transaction (RequestApplier.applyBatch: the record, unique on source
 * and key; row by row only when that fails), puts back the rows that were not relayed, commits, and only then hands
 * the new one-off messages to the enqueuer.
 *
 * Why this order is safe at every crash point: a request committed in Nudge but whose row is not marked is found
 * again and recognised by its key (nothing applied twice); a row marked relayed has its request in Nudge already (it
 * committed first); a message committed but not enqueued still has its handoff in Nudge, which the enqueuer's sweep
 * picks up. Redis is touched last and holds nothing Postgres cannot re-derive.
 */
export class SourceRelay {
  private readonly listener: OutboxListener;
  /** One per batch loop, all woken by a notification (and stop): ends an idle wait early. */
  private readonly wakeSignals: WakeSignal[];
  /** Woken by stop only: a backoff after a failure is not cut short by new rows arriving. */
  private readonly stopSignal = new WakeSignal();
  private readonly logger: Logger;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private loops: Promise<void>[] = [];
  private pruneTimer: NodeJS.Timeout | undefined;
  private pruning: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: SourceRelayOptions) {
    this.logger = options.logger.child({ source: options.source.name });
    this.wakeSignals = Array.from({ length: Math.max(1, options.concurrency ?? 1) }, () => new WakeSignal());
    this.listener = new OutboxListener(options.pool.pool, () => this.wake(), this.logger);
  }

  start(): void {
    this.listener.start();
    this.loops = this.wakeSignals.map((signal, i) => this.run(i === 0 ? this.cursor : new ClaimCursor(), signal));
    this.schedulePrune(0);
  }

  /** Stops taking batches, lets the current one finish, and closes the source's connections. */
  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  private async close(): Promise<void> {
    this.stopped = true;
    this.wake();
    this.stopSignal.wake();
    clearTimeout(this.pruneTimer);
    await Promise.all(this.loops);
    await this.pruning;
    await this.listener.stop();
    await this.options.pool.end();
  }

  /**
   * One batch: see the class comment. Throws (after committing what it did) when Nudge's database failed. `cursor`
   * is the calling loop's place in the backlog (see ClaimCursor).
   */
  async relayBatch(cursor: ClaimCursor = this.cursor): Promise<BatchReport> {
    const { source, applier, enqueuer, failpoint, batchSize } = this.options;
    const report: BatchReport = { claimed: 0, applied: 0, duplicates: 0, superseded: 0, refused: 0, forged: 0 };
    const client = await this.options.pool.pool.connect();
    let broken: Error | undefined;
    let failure: { row: OutboxRow; error: Error } | undefined;
    try {
      await client.query(BEGIN_BATCH);
      // Claimed and marked relayed in one statement: the mark commits with the outbox transaction, after Nudge's
      // transaction below, exactly as a mark written at the end would (a crash before that commit leaves the rows
      // unmarked). Rows that end up not relayed are put back before the commit (see `unclaim`).
      const claimed = await client.query<OutboxRow>(
        `UPDATE nudge_outbox o SET relayed_at = now(), attempts = o.attempts + 1, last_error = NULL
         FROM (SELECT id FROM nudge_outbox WHERE relayed_at IS NULL AND id > $2 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) c
         WHERE o.id = c.id
         RETURNING o.id::text AS id, o.source, o.idempotency_key AS "idempotencyKey", o.kind, o.subject,
                   o.subject_version::text AS "subjectVersion", o.payload`,
        [batchSize, cursor.after],
      );
      // RETURNING comes in no particular order; requests apply in the caller's order of writes.
      const rows = claimed.rows.sort(byOutboxId);
      report.claimed = rows.length;
      const relayed: string[] = [];
      /** last_error for rows relayed with a refusal: the caller sees it in its own database. */
      const notes: (string | null)[] = [];
      /** New one-off messages by their transaction's handoff, and messages of requests applied before. */
      const handoffs = new Set<OneOffHandoff>();
      const oneOffs: number[] = [];
      const own: OutboxRow[] = [];
      for (const row of rows) {
        if (row.source === source.name) {
          own.push(row);
          continue;
        }
        // A service may write only as itself: its database is configured under one name. The row is never applied,
        // and never written into Nudge under either name (it would take the real owner's key).
        const note = `refused: source ${JSON.stringify(row.source)} is not this database's source name ${JSON.stringify(source.name)}; write rows with source ${JSON.stringify(source.name)}`;
        this.logger.warn({ outboxId: row.id, claimed: row.source, key: row.idempotencyKey }, "outbox row refused: it names another source");
        relayed.push(row.id);
        notes.push(note);
        report.forged++;
      }
      const debug = this.logger.isLevelEnabled("debug");
      const record = (row: OutboxRow, result: ApplyResult) => {
        relayed.push(row.id);
        notes.push(result.outcome.startsWith("refused") ? result.outcome : null);
        if (result.handoff) handoffs.add(result.handoff);
        else if (result.oneOffId !== undefined) oneOffs.push(result.oneOffId);
        if (!result.fresh) report.duplicates++;
        else if (result.outcome === "applied") report.applied++;
        else if (result.outcome === "superseded") report.superseded++;
        else report.refused++;
        // Per row: the fields are built only for a line that is written (a refusal, or every row at debug level).
        const refusal = result.fresh && result.outcome.startsWith("refused");
        if (!refusal && !debug) return;
        const fields = { outboxId: row.id, key: row.idempotencyKey, kind: row.kind, requestId: result.requestId, outcome: result.outcome };
        if (refusal) this.logger.warn(fields, "request refused");
        else this.logger.debug({ ...fields, fresh: result.fresh }, "request relayed");
      };

      // The whole batch in one transaction of Nudge's (see RequestApplier.applyBatch), committed before the outbox
      // transaction that marks its rows.
      let results: ApplyResult[] = [];
      let rest: OutboxRow[] = [];
      try {
        if (own.length > 0) results = await applier.applyBatch(source.name, own);
      } catch (error) {
        if (!(error instanceof PartialBatchError)) throw error;
        results = error.committed;
        rest = own.slice(results.length);
        this.logger.warn({ err: error.message, rows: rest.length }, "batch not applied as one; applying its rows one at a time");
      }
      results.forEach((result, i) => record(own[i]!, result));
      if (results.some((r) => r.fresh)) await failpoint("after-nudge-write");
      // Row by row, each in a transaction of its own: a row Nudge refuses for good is recorded as refused and the
      // rest go on; a failure that may pass (Nudge down, a deadlock) stops at that row, for the next batch.
      for (const row of rest) {
        try {
          const result = await applier.apply(source.name, row);
          if (result.fresh) await failpoint("after-nudge-write");
          record(row, result);
        } catch (error) {
          // Nudge's database failed (down, restarted, a deadlock): this row and the rest stay in the outbox for the
          // next batch, after a backoff. What was applied before it stays marked, so it is not redone.
          failure = { row, error: error as Error };
          break;
        }
      }
      const noted = relayed.flatMap((id, i) => (notes[i] === null ? [] : [{ id, note: notes[i]! }]));
      if (noted.length > 0) {
        await client.query(`UPDATE nudge_outbox o SET last_error = n.note FROM unnest($1::bigint[], $2::text[]) AS n(id, note) WHERE o.id = n.id`, [
          noted.map((n) => n.id),
          noted.map((n) => n.note),
        ]);
      }
      if (relayed.length < rows.length) {
        // Not relayed: the row that failed (its attempt counted, with the error) and the rest after it (not
        // attempted), back in the outbox for the next batch.
        const kept = new Set(relayed);
        const unclaim = rows.filter((row) => !kept.has(row.id)).map((row) => row.id);
        await client.query(
          `UPDATE nudge_outbox SET relayed_at = NULL,
             attempts = CASE WHEN id = $2 THEN attempts ELSE attempts - 1 END,
             last_error = CASE WHEN id = $2 THEN $3 ELSE last_error END
           WHERE id = ANY($1::bigint[])`,
          [unclaim, failure?.row.id ?? null, failure ? `not relayed yet (retrying): ${failure.error.message}`.slice(0, 1000) : null],
        );
      }
      await client.query("COMMIT");
      cursor.advance(rows, batchSize, failure !== undefined, this.options.pollMs);
      if (relayed.length > 0) await failpoint("after-outbox-mark");
      for (const handoff of handoffs) enqueuer.add(handoff);
      enqueuer.add(oneOffs);
    } catch (error) {
      await rollback(client);
      broken = explain(error as Error, source.name);
      throw broken;
    } finally {
      // A connection whose transaction failed is dropped rather than reused: it may be the one that broke.
      client.release(broken);
    }
    if (failure) {
      throw new Error(`request ${failure.row.idempotencyKey} (outbox row ${failure.row.id}) could not be written into Nudge's database: ${failure.error.message}`, {
        cause: failure.error,
      });
    }
    return report;
  }

  /** The first loop's cursor, and relayBatch()'s when called alone. */
  private readonly cursor = new ClaimCursor();

  /** Deletes relayed rows older than the retention, a chunk at a time. Returns how many went. */
  async prune(): Promise<number> {
    let total = 0;
    for (;;) {
      const { rowCount } = await this.options.pool.pool.query(
        `DELETE FROM nudge_outbox WHERE id IN (
           SELECT id FROM nudge_outbox WHERE relayed_at < now() - $1 * interval '1 hour'
           ORDER BY id LIMIT ${PRUNE_CHUNK} FOR UPDATE SKIP LOCKED)`,
        [this.options.retentionHours],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < PRUNE_CHUNK || this.stopped) return total;
    }
  }

  wake(): void {
    for (const signal of this.wakeSignals) signal.wake();
  }

  private async run(cursor: ClaimCursor, wakeSignal: WakeSignal): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const report = await this.relayBatch(cursor);
        if (failures > 0) this.logger.info({ after: failures }, "relay recovered");
        failures = 0;
        if (report.claimed > 0) this.logger.info(report, "batch relayed");
        // A full batch means more may be waiting: go again at once.
        if (report.claimed >= this.options.batchSize) continue;
        await wakeSignal.sleep(this.options.pollMs);
      } catch (error) {
        failures++;
        const retryInMs = outageRetryDelayMs(failures);
        this.logger.error({ err: (error as Error).message, failures, retryInMs }, "relay batch failed; its rows stay in the outbox");
        await this.stopSignal.sleep(retryInMs);
      }
    }
  }

  private schedulePrune(delayMs: number): void {
    if (this.stopped) return;
    this.pruneTimer = setTimeout(() => {
      this.pruning = this.prune()
        .then((pruned) => {
          if (pruned > 0) this.logger.info({ pruned, retentionHours: this.options.retentionHours }, "relayed outbox rows pruned");
        })
        .catch((error: unknown) => this.logger.warn({ err: (error as Error).message }, "outbox prune failed; next round retries"))
        .finally(() => this.schedulePrune(this.options.pruneIntervalMs));
    }, delayMs);
  }
}

/**
 * Where a loop's next claim starts. Rows marked relayed leave their entries in the outbox's partial index until a
 * vacuum, so a claim from the start of a backlog walks over every row relayed since: draining 20,000 rows that way
 * costs a quadratic scan. While batches come back full, the next one starts after the last id claimed. It starts
 * from the beginning again after a short batch (the backlog is drained), a failure (its rows are still there), and at
 * least once a poll interval, so that a row whose transaction committed late under a lower id (or that another loop
 * held locked when this one passed it) waits at most that long.
 */
export class ClaimCursor {
  after = "0";
  private restartedAt = 0;

  advance(rows: readonly OutboxRow[], batchSize: number, failed: boolean, pollMs: number): void {
    const now = Date.now();
    if (failed || rows.length < batchSize || now - this.restartedAt >= pollMs) {
      this.after = "0";
      this.restartedAt = now;
      return;
    }
    this.after = rows[rows.length - 1]!.id;
  }
}

/**
 * Outbox rows in id order. Ids are BIGSERIAL read as text (no leading zeros), so the shorter is the smaller and equal
 * lengths compare as strings: no BigInt per comparison (two allocations each, about 2% of the relay's CPU for a batch
 * of 1,000).
 */
export function byOutboxId(a: OutboxRow, b: OutboxRow): number {
  return a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Names the fix for the one failure an operator must act on: a source database without the outbox table. */
function explain(error: Error, source: string): Error {
  if ((error as { code?: string }).code === "42P01") {
    return new Error(`source ${source}: its database has no nudge_outbox table; apply @nudge/client's outbox migration there (${error.message})`, { cause: error });
  }
  return error;
}
