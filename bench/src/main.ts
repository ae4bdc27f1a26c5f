/**
 * `npm run bench`: Nudge's throughput, latency and memory next to plain BullMQ, all measured in one run on one machine
 * so that the ratios hold even on a noisy one. Figures are printed, never asserted. The table goes to stdout as it is
 * measured; the last stdout line is one JSON object with every figure.
 */
import { createRedis } from "@nudge/queue";
import { cleanUpOpenEnvs } from "./bench-env";
import { parseBenchConfig, UsageError, type BenchConfig, type SectionName } from "./bench-config";
import { describeMachine } from "./machine";
import { fmt, progress, Report, round, verdict, type Target } from "./report";
import { baselineNoop } from "./sections/baseline-noop";
import { DRIP_TARGETS, dripPass } from "./sections/drip-pass";
import { latencyBound } from "./sections/latency-bound";
import { RELAY_TARGETS, relaySection } from "./sections/relay";
import { apiSection } from "./sections/api";
import { nudgePipeline } from "./sections/nudge-pipeline";
import { schedulerPasses } from "./sections/scheduler-passes";
import { unsafePeer } from "./sections/unsafe-peer";
import { workerMemory } from "./sections/worker-memory";

const RUNNERS = {
  noop: baselineNoop,
  unsafe: unsafePeer,
  nudge: nudgePipeline,
  latency: latencyBound,
  scheduler: schedulerPasses,
  memory: workerMemory,
  drip: dripPass,
  relay: relaySection,
  api: apiSection,
} satisfies Record<SectionName, (config: BenchConfig, report: Report) => Promise<unknown>>;

type Results = { [K in SectionName]?: Awaited<ReturnType<(typeof RUNNERS)[K]>> };

/** What each figure should reach; printed next to it for the reader, never enforced. */
const TARGETS = {
  nudge_vs_unsafe: { atLeast: 0.8 },
  latency_efficiency: { atLeast: 0.9 },
  scheduler_vs_bullmq_enqueue: { atLeast: 0.7 },
  repass_vs_pass: { atMost: 0.01 },
  worker_peak_rss_mb: { atMost: 250 },
  ...DRIP_TARGETS,
  ...RELAY_TARGETS,
} as const;

async function main(): Promise<number> {
  const config = parseBenchConfig(process.argv.slice(2), process.env);
  const redis = createRedis(config.redisUrl);
  const machine = await describeMachine(redis, config.pgAdminUrl).finally(() => redis.quit());
  process.stdout.write(
    `Nudge benchmark${config.quick ? " (--quick)" : ""} on ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB, ` +
      `Node ${machine.node}, Redis ${machine.redis}, PostgreSQL ${machine.postgres}\n` +
      `sizes: messages ${fmt.count(config.messages)} (c=${config.concurrency}), latency jobs ${fmt.count(config.latencyJobs)} ` +
      `(c=${config.latencyConcurrency}, ${config.latencyMs} ms), appointments ${fmt.count(config.appointments)}, ` +
      `worker-memory reminders ${fmt.count(config.memoryReminders)} (c=${config.memoryConcurrency}), ` +
      `drip enrollments ${fmt.count(config.dripEnrollments)} and ${fmt.count(config.dripSmallEnrollments)} (batch size ${config.batchSize}), ` +
      `relay outbox rows ${fmt.count(config.messages)} (RELAY_BATCH_SIZE ${config.relayBatchSize}, RELAY_CONCURRENCY ${config.relayConcurrency}, ${config.relayRounds} rounds), ` +
      `api requests ${fmt.count(config.apiRequests)} (c=${config.apiConcurrency})\n\n`,
  );

  const report = new Report();
  const results: Results = {};
  const errors: Partial<Record<SectionName, string>> = {};
  const sectionSeconds: Partial<Record<SectionName, number>> = {};
  const started = performance.now();
  for (const name of config.sections) {
    const sectionStarted = performance.now();
    progress(`section ${name}`);
    try {
      // Each runner's result type matches its key; TypeScript cannot follow that through the loop variable.
      (results as Record<string, unknown>)[name] = await RUNNERS[name](config, report);
    } catch (error) {
      errors[name] = (error as Error).message;
      report.error(name, (error as Error).message);
    }
    sectionSeconds[name] = round((performance.now() - sectionStarted) / 1000, 1);
    progress(`section ${name} took ${fmt.seconds(sectionSeconds[name])}`);
  }

  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? round(a / b) : null);
  const ratios = {
    nudge_vs_unsafe: ratio(results.nudge?.jobs_per_s, results.unsafe?.jobs_per_s),
    nudge_vs_noop: ratio(results.nudge?.jobs_per_s, results.noop?.drain_jobs_per_s),
    latency_efficiency: results.latency?.efficiency ?? null,
    repass_vs_pass: results.scheduler ? round(results.scheduler.second_pass_s / results.scheduler.first_pass_s, 4) : null,
    scheduler_vs_bullmq_enqueue: ratio(results.scheduler?.first_pass_jobs_per_s, results.noop?.enqueue_jobs_per_s),
    // Measured within the drip section (its own addBulk baseline, its two sizes).
    drip_pass_vs_addbulk: results.drip?.drip_pass_vs_addbulk ?? null,
    drip_repass_vs_pass: results.drip?.drip_repass_vs_pass ?? null,
    drip_peak_rss_large_vs_small: results.drip?.drip_peak_rss_large_vs_small ?? null,
    // Measured within the relay section (its own addBulk baseline).
    relay_vs_addbulk: results.relay?.relay_vs_addbulk ?? null,
    // The api section's rate next to the relay section's, both to "enqueued", same run.
    api_vs_relay: ratio(results.api?.api_enqueued_per_s, results.relay?.relay_rows_per_s),
  };

  report.heading("ratios (measured in this run; targets are for reading, not asserted)");
  const formulas: Record<keyof typeof ratios, string> = {
    nudge_vs_unsafe: "nudge jobs/s / unsafe peer jobs/s (same c)",
    nudge_vs_noop: "nudge jobs/s / no-op BullMQ jobs/s (same c)",
    latency_efficiency: `measured / (c / (2 calls x ${config.latencyMs / 1000} s))`,
    repass_vs_pass: "second pass s / first pass s",
    scheduler_vs_bullmq_enqueue: "first pass jobs/s / plain addBulk jobs/s",
    drip_pass_vs_addbulk: `drip pass jobs/s / plain addBulk jobs/s (${fmt.count(config.dripEnrollments)}, same run)`,
    drip_repass_vs_pass: "repeated drip pass s / first drip pass s",
    drip_peak_rss_large_vs_small: `drip pass peak RSS at ${fmt.count(config.dripEnrollments)} / at ${fmt.count(config.dripSmallEnrollments)}, scheduler heap budget as deployed`,
    relay_vs_addbulk: `relay outbox rows/s (to enqueued) / plain addBulk jobs/s (${fmt.count(config.messages)}, same run)`,
    api_vs_relay: `HTTP API messages/s (to enqueued, ${fmt.count(config.apiRequests)} requests) / relay outbox rows/s (same run)`,
  };
  for (const key of Object.keys(ratios) as (keyof typeof ratios)[]) {
    const target = (TARGETS as Record<string, Target>)[key];
    report.row("ratio", key, fmt.ratio(ratios[key]), [formulas[key], verdict(ratios[key], target)].filter(Boolean).join("; "));
  }
  if (results.memory) {
    report.row("memory", "worker_peak_rss_mb", fmt.mb(results.memory.peak_rss_mb), verdict(results.memory.peak_rss_mb, TARGETS.worker_peak_rss_mb));
  }
  const totalSeconds = (performance.now() - started) / 1000;
  process.stdout.write(`\ntotal ${fmt.seconds(totalSeconds)}\n`);

  const problems = [
    ...Object.entries(errors).map(([s, m]) => `${s}: ${m}`),
    ...(["nudge", "latency", "memory", "drip", "relay", "api"] as const).flatMap((s) => (results[s]?.problems ?? []).map((p) => `${s}: ${p}`)),
  ];
  const json = {
    machine,
    config: {
      quick: config.quick,
      sections: config.sections,
      messages: config.messages,
      concurrency: config.concurrency,
      latency_jobs: config.latencyJobs,
      latency_concurrency: config.latencyConcurrency,
      latency_ms: config.latencyMs,
      appointments: config.appointments,
      batch_size: config.batchSize,
      memory_reminders: config.memoryReminders,
      memory_concurrency: config.memoryConcurrency,
      drip_enrollments: config.dripEnrollments,
      drip_small_enrollments: config.dripSmallEnrollments,
      relay_batch_size: config.relayBatchSize,
      relay_concurrency: config.relayConcurrency,
      api_requests: config.apiRequests,
      api_concurrency: config.apiConcurrency,
    },
    baseline_noop: results.noop ?? null,
    unsafe_peer: results.unsafe ?? null,
    nudge: results.nudge ?? null,
    latency_bound: results.latency ?? null,
    scheduler: results.scheduler ?? null,
    worker_memory: results.memory ?? null,
    drip: results.drip ?? null,
    relay: results.relay ?? null,
    api: results.api ?? null,
    ...ratios,
    worker_peak_rss_mb: results.memory?.peak_rss_mb ?? null,
    section_s: sectionSeconds,
    total_s: round(totalSeconds, 1),
    problems,
  };
  process.stdout.write(JSON.stringify(json) + "\n");
  // A wrong count or a failed section makes the figures untrustworthy: say so in the exit code, after printing them.
  return problems.length ? 1 : 0;
}

// Ctrl-C mid-run: the sections' `finally` blocks will not run, so drop their databases and Redis keys here.
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(130);
    stopping = true;
    progress(`${signal}: cleaning up (again to quit at once)`);
    void cleanUpOpenEnvs().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(error.message);
      process.exit(2);
    }
    console.error(`bench: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
