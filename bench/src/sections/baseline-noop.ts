import { Queue, Worker } from "bullmq";
import type { BenchConfig } from "../bench-config";
import { withBenchEnv } from "../bench-env";
import { meterDrain } from "../drain-meter";
import { fmt, progress, round, type Report } from "../report";

export interface NoopResult {
  jobs: number;
  concurrency: number;
  /** addBulk in batches of 1000, unique jobIds: what the scheduler's enqueue is compared with. */
  enqueue_jobs_per_s: number;
  drain_jobs_per_s: number;
}

const SECTION = "baseline noop";

/**
 * The ceiling: BullMQ moving jobs through Redis with a processor that does nothing. Every other throughput figure is
 * read against this one.
 */
export async function baselineNoop(config: BenchConfig, report: Report): Promise<NoopResult> {
  return withBenchEnv(config, { poolSize: 1 }, async (env) => {
    const queue = new Queue("bench-noop", { connection: env.redis, prefix: env.prefix });
    try {
      progress(`${SECTION}: adding ${fmt.count(config.messages)} jobs`);
      const enqueueSeconds = await addPlainJobs(queue, config.messages);
      const enqueueRate = config.messages / enqueueSeconds;
      report.row(SECTION, "enqueue (addBulk, batches of 1000)", fmt.rate(enqueueRate), `${fmt.count(config.messages)} jobs, unique jobIds`);

      const worker = new Worker("bench-noop", async () => undefined, {
        connection: env.redis,
        prefix: env.prefix,
        concurrency: config.concurrency,
      });
      try {
        const drain = await meterDrain(worker, config.messages, SECTION);
        report.row(SECTION, `drain, no-op processor (c=${config.concurrency})`, fmt.rate(drain.jobsPerSecond), `first to last completion, ${fmt.seconds(drain.seconds)}`);
        return {
          jobs: config.messages,
          concurrency: config.concurrency,
          enqueue_jobs_per_s: round(enqueueRate, 1),
          drain_jobs_per_s: round(drain.jobsPerSecond, 1),
        };
      } finally {
        await worker.close();
      }
    } finally {
      await queue.close();
    }
  });
}

/**
 * Jobs shaped like reminders (same payload fields and key length) with unique jobIds, so that the comparison with the
 * scheduler measures the scheduler's own work (reading Postgres, validating payloads) rather than payload size.
 */
async function addPlainJobs(queue: Queue, count: number): Promise<number> {
  const startsAt = new Date(Date.now() + 90 * 60_000);
  startsAt.setUTCMilliseconds(0);
  const at = startsAt.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
  const started = performance.now();
  for (let from = 1; from <= count; from += 1_000) {
    const batch = [];
    for (let id = from; id < Math.min(from + 1_000, count + 1); id++) {
      const key = `reminder.appt-${id}.at-${at}.step-2`;
      batch.push({ name: "send-reminder", data: { key, appointmentId: id, startsAt: startsAt.toISOString(), step: 2 }, opts: { jobId: key } });
    }
    await queue.addBulk(batch);
  }
  return (performance.now() - started) / 1000;
}
