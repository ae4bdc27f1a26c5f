import { createReminderQueue } from "@nudge/queue";
import type { BenchConfig } from "../bench-config";
import { withBenchEnv } from "../bench-env";
import { runChildPasses, type PassEnd } from "../child-passes";
import { fmt, progress, round, type Report } from "../report";
import type { RssShape } from "../rss-sampler";
import { seedDueSmsAppointments } from "../seed";

export interface SchedulerResult {
  appointments: number;
  batch_size: number;
  seed_s: number;
  first_pass_s: number;
  first_pass_jobs_per_s: number;
  second_pass_s: number;
  /** What runPass returned, as is: its shape is the scheduler's business. */
  first_pass_result: unknown;
  second_pass_result: unknown;
  jobs_waiting_after: number;
  peak_rss_mb: number;
  rss_first_pass_mb: RssShape;
  rss_second_pass_mb: RssShape;
}

const SECTION = "scheduler";

/**
 * `appointments` reminders due at once (a backlog after an outage, or a big tenant's morning): the first pass
 * enqueues them all, the second runs over the same unchanged set and should find next to nothing to do. Both run in
 * a child process whose resident memory is sampled, to show whether a pass streams (flat) or accumulates (climbing).
 */
export async function schedulerPasses(config: BenchConfig, report: Report): Promise<SchedulerResult> {
  return withBenchEnv(config, { poolSize: 2 }, async (env) => {
    progress(`${SECTION}: seeding ${fmt.count(config.appointments)} due appointments`);
    const seedStarted = performance.now();
    await seedDueSmsAppointments(env.sql, config.appointments);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    report.row(SECTION, "seed (INSERT ... SELECT generate_series)", fmt.seconds(seedSeconds), `${fmt.count(config.appointments)} contacts + appointments`);

    const { passes, sampler, peakMb: peak } = await runChildPasses(
      "bench/src/scheduler-child.ts",
      { DATABASE_URL: env.databaseUrl, REDIS_URL: env.redisUrl, QUEUE_PREFIX: env.prefix, BATCH_SIZE: String(config.batchSize), PASSES: "2" },
      SECTION,
    );

    const [first, second] = passes as [PassEnd, PassEnd];
    const queue = createReminderQueue(env.redis, env.prefix);
    const waiting = await queue.getWaitingCount().finally(() => queue.close());
    const rate = config.appointments / first.seconds;
    const shape1 = sampler.shape("pass-1-start", "pass-1-end");
    const shape2 = sampler.shape("pass-2-start", "pass-2-end");
    report.row(SECTION, "first pass", fmt.seconds(first.seconds), `${JSON.stringify(first.result)}`);
    report.row(SECTION, "first pass rate (due / seconds)", fmt.rate(rate), `batch size ${config.batchSize}`);
    report.row(SECTION, "second pass, same unchanged set", fmt.seconds(second.seconds), `${JSON.stringify(second.result)}`);
    report.row(SECTION, "jobs waiting after both passes", fmt.count(waiting), `expected ${fmt.count(config.appointments)} (one per reminder)`);
    report.row(SECTION, "peak RSS of the pass process", fmt.mb(peak), "VmHWM, read before it exited");
    report.row(SECTION, "RSS during first pass", fmt.mb(shape1.max), shapeNote(shape1));
    report.row(SECTION, "RSS during second pass", fmt.mb(shape2.max), shapeNote(shape2));
    if (waiting !== config.appointments) report.error(SECTION, `${waiting} jobs waiting for ${config.appointments} due reminders`);
    return {
      appointments: config.appointments,
      batch_size: config.batchSize,
      seed_s: round(seedSeconds),
      first_pass_s: round(first.seconds),
      first_pass_jobs_per_s: round(rate, 1),
      second_pass_s: round(second.seconds, 4),
      first_pass_result: first.result,
      second_pass_result: second.result,
      jobs_waiting_after: waiting,
      peak_rss_mb: peak,
      rss_first_pass_mb: shape1,
      rss_second_pass_mb: shape2,
    };
  });
}

function shapeNote(shape: RssShape): string {
  return `max; first ${fmt.mb(shape.first)}, middle ${fmt.mb(shape.middle)}, last ${fmt.mb(shape.last)} (${shape.samples} samples, 100 ms)`;
}
