import { oneOffKey, withDeadline } from "@nudge/core";
import { type Db, markOneOffsEnqueued, sqlPool } from "@nudge/db";
import type { Logger } from "@nudge/logger";
import { enqueue, type Redis } from "@nudge/queue";
import type { Queue } from "bullmq";
import { outageRetryDelayMs } from "./outage-retry";
import { WakeSignal } from "./wake-signal";

const CHUNK = 500;
/** Marked per statement at most: a short transaction even after a long Postgres outage. */
const MARK_CHUNK = 5_000;

export interface OneOffEnqueuerOptions {
  db: Db;
  /** The one-off queue (createQueue("one-off", ...)). */
  queue: Queue;
  /** The queue's connection: while it is not ready, nothing is sent (ioredis would hold the commands until it is). */
  redis: Redis;
  logger: Logger;
  /** An enqueue Redis has not acknowledged by then is retried (it may still land: jobIds make that harmless). */
  timeoutMs?: number;
}

/**
 * Enqueues the one-off messages the relay committed, after their outbox rows are marked, and then sets `enqueued`
 * on them. It runs beside the relay loops, not in them: with Redis down the relay keeps copying requests into
 * Nudge's database (the record), and the jobs follow when Redis is back. Every job carries an id only, and its key
 * is its jobId, so adding one twice (a retry, a sweep racing a relay) is a no-op.
 *
 * Two stages, each one at a time: adding jobs (`pending`, in chunks) and marking the added messages (`added`, all
 * that have gathered, in one statement). The next chunk goes to Redis while the last one is being marked in
 * Postgres. A message whose mark fails, or never runs (a crash, close), has its job already: it stays
 * `enqueued = false` until a later mark or a sweep adds it again, which changes nothing.
 */
export class OneOffEnqueuer {
  private readonly pending = new Set<number>();
  /** In Redis, not yet marked in Postgres. */
  private readonly added = new Set<number>();
  /** Woken by close() only: new messages wait for the backoff to end, so that an outage is not hammered. */
  private readonly signal = new WakeSignal();
  /** The mark stage's own (a WakeSignal ends one sleep at a time), also woken by close() only. */
  private readonly markSignal = new WakeSignal();
  private running: Promise<void> | undefined;
  private marking: Promise<void> | undefined;
  private stopped = false;
  private failures = 0;
  private markFailures = 0;

  constructor(private readonly options: OneOffEnqueuerOptions) {}

  add(ids: readonly number[]): void {
    if (ids.length === 0) return;
    for (const id of ids) this.pending.add(id);
    if (!this.running && !this.stopped) this.running = this.drain().finally(() => (this.running = undefined));
  }

  /**
   * Picks up one-off messages left unenqueued (a relay killed after marking its rows, an enqueue that never got an
   * answer), created at least `olderThanMs` ago: younger ones are still in some relay's hands.
   */
  async sweep(olderThanMs: number): Promise<number> {
    const { rows } = await sqlPool(this.options.db).query<{ id: number }>(
      `SELECT id FROM one_off_messages WHERE NOT enqueued AND created_at <= nudge_now() - $1 * interval '1 millisecond' ORDER BY id LIMIT 10000`,
      [olderThanMs],
    );
    this.add(rows.filter((r) => !this.added.has(r.id)).map((r) => r.id));
    return rows.length;
  }

  /** Stops retrying. What is still pending or unmarked stays `enqueued = false` in Postgres, for the next sweep. */
  async close(): Promise<void> {
    this.stopped = true;
    this.signal.wake();
    this.markSignal.wake();
    await this.running;
    await this.marking;
  }

  /** How many messages wait for Redis (for tests and logs). */
  get backlog(): number {
    return this.pending.size;
  }

  private async drain(): Promise<void> {
    const { queue, redis, logger } = this.options;
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    while (this.pending.size > 0 && !this.stopped) {
      const ids = firstOf(this.pending, CHUNK);
      try {
        if (redis.status !== "ready") throw new Error(`Redis is not connected (${redis.status})`);
        await withDeadline(
          enqueue(queue, "one-off", ids.map((messageId) => ({ key: oneOffKey(messageId), messageId }))),
          timeoutMs,
          () => new Error(`Redis did not acknowledge the enqueue within ${timeoutMs} ms`),
        );
        for (const id of ids) {
          this.pending.delete(id);
          this.added.add(id);
        }
        if (!this.marking) this.marking = this.mark().finally(() => (this.marking = undefined));
        if (this.failures > 0) logger.info({ after: this.failures }, "one-off enqueue recovered");
        this.failures = 0;
      } catch (error) {
        this.failures++;
        const delayMs = outageRetryDelayMs(this.failures);
        logger.warn({ err: (error as Error).message, backlog: this.pending.size, retryInMs: delayMs }, "one-off enqueue failed; retrying");
        await this.signal.sleep(delayMs);
      }
    }
  }

  /** Marks what has been added, all that has gathered per statement, until nothing is left (or close). */
  private async mark(): Promise<void> {
    const { logger, db } = this.options;
    while (this.added.size > 0 && !this.stopped) {
      const ids = firstOf(this.added, MARK_CHUNK);
      try {
        // The ledger's own mark (a deadlock with the scheduler's sweep is one of the failures retried below).
        await markOneOffsEnqueued(db, ids);
        for (const id of ids) this.added.delete(id);
        if (this.markFailures > 0) logger.info({ after: this.markFailures }, "one-off marks recovered");
        this.markFailures = 0;
      } catch (error) {
        this.markFailures++;
        const delayMs = outageRetryDelayMs(this.markFailures);
        logger.warn({ err: (error as Error).message, unmarked: this.added.size, retryInMs: delayMs }, "marking one-off messages enqueued failed; retrying");
        await this.markSignal.sleep(delayMs);
      }
    }
  }
}

/** The first `n` members of a set, in insertion order, without copying the rest. */
function firstOf(set: ReadonlySet<number>, n: number): number[] {
  const out: number[] = [];
  for (const id of set) {
    if (out.length >= n) break;
    out.push(id);
  }
  return out;
}
