import { Queue, type JobsOptions } from "bullmq";
import type { Redis } from "ioredis";
import { JOBS, type ReminderPayload } from "./catalog";
import { BACKOFF_TYPE } from "./backoff";
import { parsePayload } from "./payload";

const contract = JOBS.reminder;

export function reminderJobOptions(key: string, backoffMs: number = contract.backoffMs): JobsOptions {
  return {
    // The deterministic key is the jobId: while the job exists, adding it again is a no-op. After removal the
    // ledger (unique key + state) is what stops a repeat, so removing finished jobs is safe.
    jobId: key,
    attempts: contract.attempts,
    backoff: { type: BACKOFF_TYPE, delay: backoffMs },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    // A failed job left in Redis would keep its jobId and so block the scheduler's sweep from enqueueing the reminder
    // again (a delivery left pending after its database was unreachable would be silently lost). The ledger and the
    // worker's error log are the record of what failed and why.
    removeOnFail: true,
  };
}

export function createReminderQueue(connection: Redis, prefix: string): Queue {
  return new Queue(contract.queue, { connection, prefix });
}

/**
 * Adds reminders with their keys as jobIds. BullMQ's addBulk is not atomic; that is fine here because every add is
 * idempotent on its own: a pass interrupted half-way is completed by the next one.
 */
export async function enqueueReminders(
  queue: Queue,
  payloads: readonly ReminderPayload[],
  backoffMs?: number,
): Promise<void> {
  if (payloads.length === 0) return;
  await queue.addBulk(
    payloads.map((p) => ({ name: contract.name, data: parsePayload("reminder", p), opts: reminderJobOptions(p.key, backoffMs) })),
  );
}
