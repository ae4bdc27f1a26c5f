import type { BenchConfig } from "../bench-config";
import { poolSizeFor, withBenchEnv } from "../bench-env";
import { measureNudgeDrain, nudgeDrainProblems } from "../nudge-fleet";
import { fmt, round, type Report } from "../report";

export interface NudgeResult {
  jobs: number;
  concurrency: number;
  jobs_per_s: number;
  drain_s: number;
  scheduler_pass_s: number;
  sms_accepted: number;
  hubspot_updates: number;
  ledger: Record<string, number>;
  problems: string[];
}

const SECTION = "nudge";

/** The whole pipeline (scheduler pass, then CRM update, ledger advance, claim, send, record) with a 0 ms simulator. */
export async function nudgePipeline(config: BenchConfig, report: Report): Promise<NudgeResult> {
  return withBenchEnv(config, { poolSize: poolSizeFor(config.concurrency) }, async (env) => {
    const run = await measureNudgeDrain(env, config.messages, config.concurrency, SECTION);
    const problems = nudgeDrainProblems(config.messages, run);
    report.row(SECTION, `drain, whole pipeline (c=${config.concurrency})`, fmt.rate(run.drain.jobsPerSecond), `first to last completion, ${fmt.seconds(run.drain.seconds)}; pool ${poolSizeFor(config.concurrency)}`);
    report.row(SECTION, "SMS accepted by the simulator", fmt.count(run.accepted.sms), `expected ${fmt.count(config.messages)}; ${fmt.count(run.accepted.hubspot)} HubSpot updates`);
    report.row(SECTION, "scheduler pass that enqueued them", fmt.seconds(run.passSeconds), "in-process, before the drain");
    for (const problem of problems) report.error(SECTION, problem);
    return {
      jobs: config.messages,
      concurrency: config.concurrency,
      jobs_per_s: round(run.drain.jobsPerSecond, 1),
      drain_s: round(run.drain.seconds),
      scheduler_pass_s: round(run.passSeconds),
      sms_accepted: run.accepted.sms,
      hubspot_updates: run.accepted.hubspot,
      ledger: run.states,
      problems,
    };
  });
}
