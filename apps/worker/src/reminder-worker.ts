import type { Logger } from "@nudge/logger";
import { createWorker, type WorkerOptions } from "@nudge/queue";
import type { DeliveryOutcome } from "@nudge/send-guard";
import type { Worker } from "bullmq";
import { processReminder, type ReminderDeps } from "./reminder.processor";

export function createReminderWorker(deps: ReminderDeps & { logger: Logger }, options: WorkerOptions): Worker<unknown, DeliveryOutcome> {
  const worker = createWorker("reminder", (payload) => processReminder(payload, deps), options);
  worker.on("failed", (job, error) => {
    deps.logger.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: error.message }, "reminder attempt failed");
  });
  worker.on("error", (error) => deps.logger.error({ err: error.message }, "worker error"));
  return worker;
}
