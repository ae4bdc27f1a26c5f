import { BACKOFF_TYPE, JOBS, backoffDelay, type Redis } from "@nudge/queue";
import { Worker } from "bullmq";
import { processReminder, type ReminderDeps, type ReminderOutcome } from "./reminder.processor";

export interface ReminderWorkerOptions {
  connection: Redis;
  prefix: string;
  concurrency: number;
  lockMs: number;
  stalledIntervalMs: number;
  backoffMs: number;
}

export function createReminderWorker(deps: ReminderDeps, options: ReminderWorkerOptions): Worker<unknown, ReminderOutcome> {
  const worker = new Worker<unknown, ReminderOutcome>(JOBS.reminder.queue, (job) => processReminder(job, deps), {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    lockDuration: options.lockMs,
    stalledInterval: options.stalledIntervalMs,
    // A stalled job is re-run, which is always safe here (the claim decides), so a crash-looping host should not
    // turn a reminder into a failed job after a single stall.
    maxStalledCount: 10,
    settings: {
      backoffStrategy: (attemptsMade, type, error) =>
        type === BACKOFF_TYPE ? backoffDelay(attemptsMade, options.backoffMs, error) : options.backoffMs,
    },
  });
  worker.on("failed", (job, error) => {
    deps.logger.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: error.message }, "reminder attempt failed");
  });
  worker.on("error", (error) => deps.logger.error({ err: error.message }, "worker error"));
  return worker;
}
