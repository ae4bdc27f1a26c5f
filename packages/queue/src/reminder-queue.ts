import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { ReminderPayload } from "./catalog";
import { createQueue, enqueue } from "./job-queue";

/** The reminder kind's queue (shorthand for createQueue("reminder", ...)). */
export function createReminderQueue(connection: Redis, prefix: string): Queue {
  return createQueue("reminder", connection, prefix);
}

/** Shorthand for enqueue(queue, "reminder", payloads). */
export async function enqueueReminders(queue: Queue, payloads: readonly ReminderPayload[], backoffMs?: number): Promise<void> {
  await enqueue(queue, "reminder", payloads, backoffMs);
}
