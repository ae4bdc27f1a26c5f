import { oneOffKey, withDeadline } from "@nudge/core";
import { type Db, deleteHandoffs, findStaleHandoffs, markOneOffsEnqueued, type OneOffHandoff } from "@nudge/db";
import type { Logger } from "@nudge/logger";
import { enqueue, type Redis } from "@nudge/queue";
import type { Queue } from "bullmq";
import { outageRetryDelayMs } from "./outage-retry";
import { WakeSignal } from "./wake-signal";

const CHUNK = 500;
/** Marked (or handoffs deleted) per statement at most: a short transaction even after a long Postgres outage. */
const MARK_CHUNK = 5_000;
/** Stale handoffs a sweep takes at once. */
const SWEEP_HANDOFFS = 1_000;

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
 * Enqueues the one-off messages the relay (or the API) committed, after their outbox rows are marked, and then
 * settles them in Postgres: it deletes their handoff (see the one_off_handoffs migration) once every job of it is
 * added, or sets `enqueued` on a message handed over without one (one a sweep reset, a request applied before). It
 * runs beside the relay loops, not in them: with Redis down the relay keeps copying requests into Nudge's database
 * (the record), and the jobs follow when Redis is back. Every job carries an id only, and its key is its jobId, so
 * adding one twice (a retry, a sweep racing a relay) is a no-op.
 *
 * Two stages, each one at a time: adding jobs (`pending`, in chunks) and settling what was added (all that has
 * gathered, in a statement or two). The next chunk goes to Redis while the last one is settled in Postgres. What
 * is never settled (a failure, a crash, close) has its jobs already: its handoff or bookmark stays until a sweep adds
 * them again, which changes nothing.
 */
export class OneOffEnqueuer {
  /** Messages whose jobs are to be added, each with its handoff's id when it came with one. */
  private readonly pending = new Map<number, string | undefined>();
  /** Of each handoff being worked on, how many of its messages are still pending. */
  private readonly handoffsLeft = new Map<string, number>();
  /** In Redis, not yet marked in Postgres (messages that came without a handoff). */
  private readonly added = new Set<number>();
  /** Handoffs whose jobs are all in Redis, not yet deleted. */
  private readonly doneHandoffs = new Set<string>();
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

  /**
   * Messages whose jobs are to be added: a transaction's handoff, whole (all its messages, so that it is deleted only
   * once every one of its jobs is added), or messages without one. What is pending already is not added twice.
   */
  add(messages: OneOffHandoff | readonly number[]): void {
    const handoff = Array.isArray(messages) ? undefined : (messages as OneOffHandoff);
    const ids = handoff ? handoff.messageIds : (messages as readonly number[]);
    let fresh = 0;
    for (const id of ids) {
      // Pending already: counted for this handoff if it came without one (the same message from a request applied
      // before, say), so that the handoff is not deleted before that job is added.
      if (this.pending.has(id) && (handoff === undefined || this.pending.get(id) !== undefined)) continue;
      this.pending.set(id, handoff?.id);
      fresh++;
    }
    if (handoff && fresh > 0) this.handoffsLeft.set(handoff.id, (this.handoffsLeft.get(handoff.id) ?? 0) + fresh);
    if (this.pending.size > 0 && !this.running && !this.stopped) this.running = this.drain().finally(() => (this.running = undefined));
  }

  /**
   * Picks up what a dead writer left (a relay killed after marking its rows, an enqueue that never got an answer):
   * handoffs written at least `olderThanMs` ago. Younger ones are still in some process's hands. Messages whose
   * bookmark a sweep reset are the scheduler's one-off pass's, which adds them in the pass that resets them.
   */
  async sweep(olderThanMs: number): Promise<number> {
    const handoffs = await findStaleHandoffs(this.options.db, olderThanMs, SWEEP_HANDOFFS);
    for (const handoff of handoffs) if (!this.handoffsLeft.has(handoff.id) && !this.doneHandoffs.has(handoff.id)) this.add(handoff);
    return handoffs.reduce((n, h) => n + h.messageIds.length, 0);
  }

  /**
   * Stops retrying. What is still pending or unsettled stays in Postgres (its handoff, or `enqueued = false`), for the
   * next sweep.
   */
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
      const ids = firstOf(this.pending.keys(), CHUNK);
      try {
        if (redis.status !== "ready") throw new Error(`Redis is not connected (${redis.status})`);
        await withDeadline(
          enqueue(queue, "one-off", ids.map((messageId) => ({ key: oneOffKey(messageId), messageId }))),
          timeoutMs,
          () => new Error(`Redis did not acknowledge the enqueue within ${timeoutMs} ms`),
        );
        for (const id of ids) this.settleAdded(id);
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

  /** A message's job is in Redis: its handoff is done once its last message is, or it is to be marked. */
  private settleAdded(id: number): void {
    const handoff = this.pending.get(id);
    this.pending.delete(id);
    if (handoff === undefined) {
      this.added.add(id);
      return;
    }
    const left = this.handoffsLeft.get(handoff)! - 1;
    if (left > 0) {
      this.handoffsLeft.set(handoff, left);
      return;
    }
    this.handoffsLeft.delete(handoff);
    this.doneHandoffs.add(handoff);
  }

  /**
   * Settles what has been added, all that has gathered per statement, until nothing is left (or close): deletes the
   * handoffs done, marks the messages that came without one.
   */
  private async mark(): Promise<void> {
    const { logger, db } = this.options;
    while ((this.added.size > 0 || this.doneHandoffs.size > 0) && !this.stopped) {
      const handoffs = firstOf(this.doneHandoffs, MARK_CHUNK);
      const ids = firstOf(this.added, MARK_CHUNK);
      try {
        await deleteHandoffs(db, handoffs);
        for (const handoff of handoffs) this.doneHandoffs.delete(handoff);
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

/** The first `n` members of a set (or keys of a map), in insertion order, without copying the rest. */
function firstOf<T>(set: Iterable<T>, n: number): T[] {
  const out: T[] = [];
  for (const id of set) {
    if (out.length >= n) break;
    out.push(id);
  }
  return out;
}
