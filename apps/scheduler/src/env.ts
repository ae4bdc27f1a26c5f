import { databaseEnv, logEnv, parseEnv, planEnv, positiveInt, redisEnv } from "@nudge/config";
import { z } from "zod";

const schema = z.object({
  ...databaseEnv,
  ...redisEnv,
  ...logEnv,
  ...planEnv,
  /** Long-running mode: time between passes. */
  SCHEDULER_INTERVAL_MS: positiveInt(60_000),
  /** Appointments read and jobs added per round trip. */
  SCHEDULER_BATCH_SIZE: positiveInt(1_000),
  /** How often a pass re-enqueues every due, unsettled reminder (a safety net for jobs lost from Redis). */
  SCHEDULER_SWEEP_MS: positiveInt(15 * 60_000),
  /** After this long, a delivery left sending (or pending past its deadline) by a lost job is settled. */
  SCHEDULER_ABANDONED_AFTER_MS: positiveInt(5 * 60_000),
  JOB_BACKOFF_MS: positiveInt(2_000),
  SHUTDOWN_GRACE_MS: positiveInt(25_000),
});

export type SchedulerEnv = z.infer<typeof schema>;

export function loadSchedulerEnv(env: NodeJS.ProcessEnv = process.env): SchedulerEnv {
  return parseEnv(schema, env);
}
