import type { Logger } from "@nudge/logger";
import { createWorker, type WorkerOptions } from "@nudge/queue";
import type { DeliveryOutcome } from "@nudge/send-guard";
import type { Worker } from "bullmq";
import { type OneOffDeps, processOneOff } from "./one-off.processor";

/** The one-off messages' worker: the same guard, nothing else (no CRM step, so no readiness gate). */
export function createOneOffWorker(deps: OneOffDeps & { logger: Logger }, options: WorkerOptions): Worker<unknown, DeliveryOutcome> {
  const worker = createWorker("one-off", (payload) => processOneOff(payload, deps), options);
  worker.on("failed", (job, error) => deps.logger.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: error.message }, "one-off attempt failed"));
  worker.on("error", (error) => deps.logger.error({ err: error.message }, "one-off worker error"));
  return worker;
}
