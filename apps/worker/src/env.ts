import { clockSkewEnv, databaseEnv, logEnv, parseEnv, planEnv, positiveInt, providerEnv, redisEnv } from "@nudge/config";
import { minimumLease } from "@nudge/send-guard";
import { z } from "zod";
import { FAILPOINT_SPECS } from "./failpoints";

const schema = z
  .object({
    ...databaseEnv,
    ...redisEnv,
    ...logEnv,
    ...providerEnv,
    ...planEnv,
    ...clockSkewEnv,
    WORKER_CONCURRENCY: positiveInt(20),
    /** How long a job's lock lasts without renewal; after it a job counts as stalled and another worker takes it. */
    WORKER_LOCK_MS: positiveInt(30_000),
    WORKER_STALLED_INTERVAL_MS: positiveInt(30_000),
    JOB_BACKOFF_MS: positiveInt(2_000),
    SHUTDOWN_GRACE_MS: positiveInt(25_000),
    /** While the CRM is not ready (Nudge's properties missing, a bad token), how often the worker checks again. */
    CRM_READY_CHECK_MS: positiveInt(15_000),
    /**
     * The HubSpot requests the whole fleet may make per rolling 10 s (shared through Redis). HubSpot allows a private
     * app 100 to 190 depending on the account's tier: the default is the lowest.
     */
    HUBSPOT_REQUESTS_PER_10S: positiveInt(100),
    /**
     * How long a send claim lasts, on the database's clock: a lookup, the send and the record must fit in it.
     * Default: twice PROVIDER_TIMEOUT_MS plus 10 s.
     */
    SEND_LEASE_MS: z.coerce.number({ message: "expected a number of milliseconds" }).int().positive().optional(),
    /** How far a provider's list may lag: after a 5xx, "not in the list" is believed only this long after it. */
    LOOKUP_SETTLE_MS: positiveInt(10_000),
    /**
     * Drip campaigns: a lead whose HubSpot lifecycle stage sales has moved past this one (HubSpot's default stages:
     * subscriber, lead, marketingqualifiedlead, salesqualifiedlead, opportunity, customer, evangelist) gets no
     * further step. Read at each step's CRM write. Unset: the stage is not read.
     */
    DRIP_STOP_LIFECYCLE_STAGE: z.enum(["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist"]).optional(),
    /** Tests only: SIGKILL this process at a named point of the pipeline. */
    NUDGE_FAILPOINT: z.enum(FAILPOINT_SPECS).optional(),
  })
  .refine((env) => env.NUDGE_FAILPOINT === undefined || env.NODE_ENV === "test", {
    message: "NUDGE_FAILPOINT is for the test suite only; it requires NODE_ENV=test",
    path: ["NUDGE_FAILPOINT"],
  })
  .refine((env) => env.SEND_LEASE_MS === undefined || env.SEND_LEASE_MS >= minimumLease(env.PROVIDER_TIMEOUT_MS), {
    message: "SEND_LEASE_MS must leave room for one provider call and its record: at least PROVIDER_TIMEOUT_MS + 6000",
    path: ["SEND_LEASE_MS"],
  })
  .refine((env) => env.CLOCK_SKEW_MS === 0 || env.NODE_ENV === "test", {
    message: "CLOCK_SKEW_MS is for the chaos suite only; it requires NODE_ENV=test",
    path: ["CLOCK_SKEW_MS"],
  });

export type WorkerEnv = z.infer<typeof schema>;

export function loadWorkerEnv(env: NodeJS.ProcessEnv = process.env): WorkerEnv {
  return parseEnv(schema, env);
}
