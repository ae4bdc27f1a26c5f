import { CrmPortalError } from "@nudge/core";
import type { Logger } from "@nudge/logger";
import { createWorker, type WorkerOptions } from "@nudge/queue";
import type { DeliveryOutcome } from "@nudge/send-guard";
import type { Worker } from "bullmq";
import type { CrmReadiness } from "./crm-readiness";
import { processReminder, type ReminderDeps } from "./reminder.processor";

/** How long a job that met a portal-wide CRM refusal waits before its retry (the intake is paused meanwhile). */
const PORTAL_RETRY_MS = 30_000;

export function createReminderWorker(
  deps: ReminderDeps & { logger: Logger; readiness?: CrmReadiness },
  options: WorkerOptions,
): Worker<unknown, DeliveryOutcome> {
  const worker = createWorker(
    "reminder",
    async (payload) => {
      try {
        return await processReminder(payload, deps);
      } catch (error) {
        if (error instanceof CrmPortalError) {
          deps.readiness?.portalRefused(error);
          // Retried once the portal is fixed, never failed for it: the message is not at fault.
          throw Object.assign(error, { retryAfterMs: PORTAL_RETRY_MS });
        }
        // Failed before the guard could judge it (the database unreachable while loading the appointment): keep the
        // next try well before the start, as the guard does. Only a delay hint, so this host's clock is good enough.
        if (error instanceof Error && !("retryWithinMs" in error)) {
          const left = Date.parse(payload.startsAt) - Date.now();
          if (left > 0) Object.assign(error, { retryWithinMs: Math.max(100, Math.floor(left / 3)) });
        }
        throw error;
      }
    },
    options,
  );
  deps.readiness?.attach(worker);
  worker.on("failed", (job, error) => {
    deps.logger.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: error.message }, "reminder attempt failed");
  });
  worker.on("error", (error) => deps.logger.error({ err: error.message }, "worker error"));
  return worker;
}
