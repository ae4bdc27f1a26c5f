import { type Job, type JobsOptions, Queue, UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { BACKOFF_TYPE, backoffDelay } from "./backoff";
import { JOBS, type JobKind, type PayloadOf } from "./catalog";
import { parsePayload } from "./payload";

/** The options of one job, all from its catalog entry; the key is the jobId. */
export function jobOptions(kind: JobKind, key: string, backoffMs: number = JOBS[kind].backoffMs): JobsOptions {
  const contract = JOBS[kind];
  return {
    // The deterministic key is the jobId: while the job exists, adding it again is a no-op. After removal the
    // ledger (unique key + state) is what stops a repeat, so removing finished jobs is safe.
    jobId: key,
    attempts: contract.attempts,
    backoff: { type: BACKOFF_TYPE, delay: backoffMs },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    // A failed job left in Redis would keep its jobId and so block the scheduler's sweep from enqueueing the message
    // again. The ledger and the worker's error log are the record of what failed and why.
    removeOnFail: true,
  };
}

export function createQueue(kind: JobKind, connection: Redis, prefix: string): Queue {
  return new Queue(JOBS[kind].queue, { connection, prefix });
}

/**
 * Adds jobs with their keys as jobIds. BullMQ's addBulk is not atomic; that is fine here because every add is
 * idempotent on its own: an enqueue interrupted half-way is completed by the next one.
 */
export async function enqueue<K extends JobKind>(
  queue: Queue,
  kind: K,
  payloads: readonly (PayloadOf<K> & { key: string })[],
  backoffMs?: number,
): Promise<void> {
  if (payloads.length === 0) return;
  await queue.addBulk(payloads.map((p) => ({ name: JOBS[kind].name, data: parsePayload(kind, p), opts: jobOptions(kind, p.key, backoffMs) })));
}

export interface WorkerOptions {
  connection: Redis;
  prefix: string;
  concurrency: number;
  lockMs: number;
  stalledIntervalMs: number;
  backoffMs: number;
  /** false: the worker takes no job until `run()` is called (e.g. once its dependencies are ready). Default true. */
  autorun?: boolean;
}

/**
 * A BullMQ worker for one kind, typed from its catalog entry: the handler gets a checked payload (a payload that
 * fails its schema fails the job at once, naming the field), and retries follow the entry's backoff.
 */
export function createWorker<K extends JobKind, R>(
  kind: K,
  handler: (payload: PayloadOf<K>, job: Job) => Promise<R>,
  options: WorkerOptions,
): Worker<unknown, R> {
  const contract = JOBS[kind];
  return new Worker<unknown, R>(
    contract.queue,
    async (job) => {
      let payload: PayloadOf<K>;
      try {
        payload = parsePayload(kind, job.data);
      } catch (error) {
        throw new UnrecoverableError((error as Error).message);
      }
      return handler(payload, job);
    },
    {
      connection: options.connection,
      prefix: options.prefix,
      autorun: options.autorun ?? true,
      concurrency: options.concurrency,
      lockDuration: options.lockMs,
      stalledInterval: options.stalledIntervalMs,
      // A stalled job is re-run, which is always safe here (the claim decides), so a crash-looping host should not
      // turn a message into a failed job after a single stall.
      maxStalledCount: 10,
      settings: {
        backoffStrategy: (attemptsMade, type, error) =>
          type === BACKOFF_TYPE ? backoffDelay(attemptsMade, options.backoffMs, error, Math.random, contract.maxBackoffMs) : options.backoffMs,
      },
    },
  );
}
