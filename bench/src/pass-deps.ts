import { DEFAULT_REMINDER_PLAN } from "@nudge/core";
import type { Db } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import type { Redis } from "@nudge/queue";
import type { Queue } from "bullmq";

/**
 * The scheduler pass's dependencies, in a file of their own so that the scheduler child loads no worker code. Returned
 * as a variable rather than written inline in the call on purpose: PassDeps is being extended (`redis` became
 * required), and a variable may carry a field that an older or newer PassDeps does not list, where an inline object
 * literal would fail the type check.
 */
export function passDeps(wiring: { db: Db; queue: Queue; redis: Redis; batchSize: number }) {
  const deps = {
    ...wiring,
    plan: DEFAULT_REMINDER_PLAN,
    logger: createLogger("bench-scheduler", "silent"),
    backoffMs: 1_000,
  };
  return deps;
}

/**
 * The daily drip pass's dependencies, wired as apps/scheduler/src/run-scheduler.ts wires them; the sweep interval and
 * the job backoff are left to their defaults, as SCHEDULER_SWEEP_MS and JOB_BACKOFF_MS leave them.
 */
export function dripPassDeps(wiring: { db: Db; queue: Queue; redis: Redis; batchSize: number }) {
  const deps = { ...wiring, logger: createLogger("bench-drip-pass", "silent") };
  return deps;
}
