import type { BenchConfig } from "../bench-config";
import { poolSizeFor, withBenchEnv } from "../bench-env";
import { measureNudgeDrain, nudgeDrainProblems } from "../nudge-fleet";
import { fmt, round, type Report } from "../report";

export interface LatencyResult {
  jobs: number;
  concurrency: number;
  simulator_latency_ms: number;
  jobs_per_s: number;
  ideal_jobs_per_s: number;
  efficiency: number;
  drain_s: number;
  sms_accepted: number;
  problems: string[];
}

const SECTION = "latency-bound";
/** Each reminder waits on the simulator twice, one after the other: the HubSpot PATCH, then the Twilio send. */
const PROVIDER_CALLS_PER_JOB = 2;

/**
 * With slow providers the pipeline should be bound by waiting, not by its own work: at concurrency c and latency L per
 * call, at most c / (2 L) jobs per second can finish. How close it gets is how little the rest (Postgres, BullMQ,
 * the SDKs) costs.
 */
export async function latencyBound(config: BenchConfig, report: Report): Promise<LatencyResult> {
  const c = config.latencyConcurrency;
  return withBenchEnv(config, { poolSize: poolSizeFor(c) }, async (env) => {
    env.sim.setLatency(config.latencyMs);
    const run = await measureNudgeDrain(env, config.latencyJobs, c, SECTION);
    const problems = nudgeDrainProblems(config.latencyJobs, run);
    const ideal = c / (PROVIDER_CALLS_PER_JOB * (config.latencyMs / 1000));
    const efficiency = run.drain.jobsPerSecond / ideal;
    report.row(SECTION, `drain, ${config.latencyMs} ms per call (c=${c})`, fmt.rate(run.drain.jobsPerSecond), `${fmt.count(config.latencyJobs)} jobs in ${fmt.seconds(run.drain.seconds)}; pool ${poolSizeFor(c)}`);
    report.row(SECTION, "ideal", fmt.rate(ideal), `c / (2 calls x ${config.latencyMs / 1000} s) = ${c} / ${PROVIDER_CALLS_PER_JOB * (config.latencyMs / 1000)}`);
    report.row(SECTION, "latency_efficiency", fmt.ratio(efficiency), "measured / ideal");
    report.row(SECTION, "SMS accepted by the simulator", fmt.count(run.accepted.sms), `expected ${fmt.count(config.latencyJobs)}`);
    for (const problem of problems) report.error(SECTION, problem);
    return {
      jobs: config.latencyJobs,
      concurrency: c,
      simulator_latency_ms: config.latencyMs,
      jobs_per_s: round(run.drain.jobsPerSecond, 1),
      ideal_jobs_per_s: round(ideal, 1),
      efficiency: round(efficiency),
      drain_s: round(run.drain.seconds),
      sms_accepted: run.accepted.sms,
      problems,
    };
  });
}
