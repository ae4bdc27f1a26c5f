import { CrmPortalError } from "@nudge/core";
import type { Logger } from "@nudge/logger";
import { createWorker, type WorkerOptions } from "@nudge/queue";
import type { Worker } from "bullmq";
import type { CrmReadiness } from "./crm-readiness";
import { type DripDeps, type DripOutcome, DripStepNotDue, processDripStep } from "./drip.processor";

/** How long a job that met a portal-wide CRM refusal waits before its retry (the intake is paused meanwhile). */
const PORTAL_RETRY_MS = 30_000;

export function createDripWorker(deps: DripDeps & { logger: Logger; readiness?: CrmReadiness }, options: WorkerOptions): Worker<unknown, DripOutcome> {
  const worker = createWorker(
    "drip",
    async (payload) => {
      try {
        return await processDripStep(payload, deps);
      } catch (error) {
        if (error instanceof CrmPortalError) {
          deps.readiness?.portalRefused(error);
          throw Object.assign(error, { retryAfterMs: PORTAL_RETRY_MS });
        }
        throw error;
      }
    },
    options,
  );
  deps.readiness?.attach(worker);
  worker.on("failed", (job, error) => {
    if (error instanceof DripStepNotDue) {
      deps.logger.info({ jobId: job?.id, notBefore: error.notBefore.toISOString() }, "drip step waits for its send window");
      return;
    }
    deps.logger.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: error.message }, "drip step attempt failed");
  });
  worker.on("error", (error) => deps.logger.error({ err: error.message }, "drip worker error"));
  return worker;
}
