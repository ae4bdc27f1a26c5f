import { createQueue, deleteQueueKeys, JOBS } from "@nudge/queue";
import { SCHEDULER_HEAP_MB, SCHEDULER_NODE_FLAGS } from "@nudge/scheduler";
import type { BenchConfig } from "../bench-config";
import { type BenchEnv, withBenchEnv } from "../bench-env";
import { type ChildPasses, runChildPasses, type PassEnd } from "../child-passes";
import type { WorkMemory } from "../own-memory";
import { fmt, progress, round, verdict, type Report } from "../report";
import type { RssShape } from "../rss-sampler";
import { BENCH_DUE_STEP, seedDueEnrollments } from "../seed-enrollments";

/** The acceptance targets for the daily drip pass; printed next to the figures, never enforced. */
export const DRIP_TARGETS = {
  drip_pass_vs_addbulk: { atLeast: 0.7 },
  drip_repass_vs_pass: { atMost: 0.01 },
  drip_peak_rss_large_vs_small: { atMost: 1.2 },
} as const;

/** One measured run in a child: its memory from inside (own-memory.ts), or from the parent's samples if refused. */
interface RunMemory extends Partial<WorkMemory> {
  baseline_mb: number;
  peak_mb: number;
  growth_mb: number;
  from: "inside: VmHWM reset before the run" | "parent samples every 10 ms";
  /** The parent's samples over the run: flat or climbing. */
  sampled_mb: RssShape;
}

export interface DripSizeRun {
  enrollments: number;
  seed_s: number;
  addbulk_s: number;
  addbulk_jobs_per_s: number;
  addbulk_memory: RunMemory;
  first_pass_s: number;
  first_pass_jobs_per_s: number;
  second_pass_s: number;
  /** What runDripPass returned, as is. */
  first_pass_result: unknown;
  second_pass_result: unknown;
  jobs_waiting_after: number;
  enrollments_marked_enqueued: number;
  first_pass_memory: RunMemory;
  /** The first pass once more, over the same set reset, in a process without the scheduler's heap budget. */
  unbounded_pass_s: number;
  unbounded_pass_memory: RunMemory;
}

export interface DripResult {
  batch_size: number;
  small: DripSizeRun;
  large: DripSizeRun;
  drip_pass_vs_addbulk: number;
  drip_repass_vs_pass: number;
  /** Peak RSS of the first pass at the large size / at the small size, the scheduler as deployed (the target). */
  drip_peak_rss_large_vs_small: number;
  /** For reading it: the growth during the pass (peak minus RSS before it), same runs. */
  drip_rss_growth_large_vs_small: number | null;
  /** For reading it: the same ratios without the heap budget, and for plain addBulk (also without). */
  drip_peak_rss_unbounded_large_vs_small: number;
  drip_rss_growth_unbounded_large_vs_small: number | null;
  addbulk_rss_growth_large_vs_small: number | null;
  problems: string[];
}

const SECTION = "drip";
const SAMPLE_EVERY_MS = 10;
const ADDBULK_QUEUE = "bench-drip-addbulk";
/**
 * The passes run as the scheduler is deployed: within its heap budget (SCHEDULER_NODE_FLAGS, see
 * apps/scheduler/src/heap-budget.ts), and the memory target is judged there. V8 left to itself sizes its old
 * generation by its own heuristics (garbage accumulates until a mark-compact, and the limit after one grows with the
 * allocation rate), so an unbounded long run peaks higher than a short one with nothing retained; the run without
 * the budget is printed for reading. Within the budget a pass that retained 1 KB per enrollment would fail at 100,000.
 */
const DEPLOYED = { NODE_OPTIONS: SCHEDULER_NODE_FLAGS.join(" ") };

/**
 * The daily drip pass (runDripPass, wired as the scheduler wires it) over `dripEnrollments` active enrollments, all
 * due: its rate next to plain BullMQ addBulk of as many jobs of the same size in batches of the same size, the cost of
 * the repeated pass over the unchanged set, and whether its memory is flat, against the same pass over
 * `dripSmallEnrollments`. Each size gets a fresh database and Redis prefix; the baseline and each size's passes run in
 * fresh child processes started alike, so that rates and memory compare like with like.
 */
export async function dripPass(config: BenchConfig, report: Report): Promise<DripResult> {
  const problems: string[] = [];
  const small = await runSize(config, config.dripSmallEnrollments, report, problems);
  const large = await runSize(config, config.dripEnrollments, report, problems);

  const passVsAddBulk = round(large.first_pass_jobs_per_s / large.addbulk_jobs_per_s);
  const repassVsPass = round(large.second_pass_s / large.first_pass_s, 4);
  const peakRatio = (a: RunMemory, b: RunMemory) => round(a.peak_mb / b.peak_mb);
  const growthRatio = (a: RunMemory, b: RunMemory) => (b.growth_mb > 0 ? round(a.growth_mb / b.growth_mb) : null);
  const dripPeak = peakRatio(large.first_pass_memory, small.first_pass_memory);
  const dripGrowth = growthRatio(large.first_pass_memory, small.first_pass_memory);
  const unboundedPeak = peakRatio(large.unbounded_pass_memory, small.unbounded_pass_memory);
  const unboundedGrowth = growthRatio(large.unbounded_pass_memory, small.unbounded_pass_memory);
  const addBulkGrowth = growthRatio(large.addbulk_memory, small.addbulk_memory);
  const sizes = `${fmt.count(large.enrollments)} / ${fmt.count(small.enrollments)}`;
  const both = (pick: (r: DripSizeRun) => RunMemory, field: "peak_mb" | "growth_mb") => `${fmt.mb(pick(large)[field])} / ${fmt.mb(pick(small)[field])}`;
  report.row(SECTION, `pass rate / addBulk rate, ${fmt.count(large.enrollments)}`, fmt.ratio(passVsAddBulk), verdict(passVsAddBulk, DRIP_TARGETS.drip_pass_vs_addbulk));
  report.row(SECTION, "repeated pass / first pass", fmt.ratio(repassVsPass), verdict(repassVsPass, DRIP_TARGETS.drip_repass_vs_pass));
  report.row(SECTION, `pass peak RSS ${sizes}`, fmt.ratio(dripPeak), `${both((r) => r.first_pass_memory, "peak_mb")}, heap budget ${SCHEDULER_HEAP_MB} MB as deployed; ${verdict(dripPeak, DRIP_TARGETS.drip_peak_rss_large_vs_small)}`);
  report.row(SECTION, `  its growth during the pass, for reading it`, fmt.ratio(dripGrowth), both((r) => r.first_pass_memory, "growth_mb"));
  report.row(SECTION, `  without the heap budget: peak`, fmt.ratio(unboundedPeak), both((r) => r.unbounded_pass_memory, "peak_mb"));
  report.row(SECTION, `  without the heap budget: growth`, fmt.ratio(unboundedGrowth), both((r) => r.unbounded_pass_memory, "growth_mb"));
  report.row(SECTION, `  plain addBulk's growth (no budget)`, fmt.ratio(addBulkGrowth), both((r) => r.addbulk_memory, "growth_mb"));
  for (const problem of problems) report.error(SECTION, problem);
  return {
    batch_size: config.batchSize,
    small,
    large,
    drip_pass_vs_addbulk: passVsAddBulk,
    drip_repass_vs_pass: repassVsPass,
    drip_peak_rss_large_vs_small: dripPeak,
    drip_rss_growth_large_vs_small: dripGrowth,
    drip_peak_rss_unbounded_large_vs_small: unboundedPeak,
    drip_rss_growth_unbounded_large_vs_small: unboundedGrowth,
    addbulk_rss_growth_large_vs_small: addBulkGrowth,
    problems,
  };
}

async function runSize(config: BenchConfig, enrollments: number, report: Report, problems: string[]): Promise<DripSizeRun> {
  return withBenchEnv(config, { poolSize: 2 }, async (env) => {
    const label = `${SECTION} ${fmt.count(enrollments)}`;
    progress(`${label}: seeding due enrollments`);
    const seedStarted = performance.now();
    await seedDueEnrollments(env.db, env.sql, enrollments);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    report.row(SECTION, `seed ${fmt.count(enrollments)} enrollments`, fmt.seconds(seedSeconds), "contacts, campaign, enrollments (INSERT ... SELECT)");

    // The baseline first, then its jobs deleted: the pass meets Redis as the baseline did, with nothing in it.
    const addBulk = await runChildPasses(
      "bench/src/addbulk-child.ts",
      { ...childEnv(env, config), QUEUE_NAME: ADDBULK_QUEUE, COUNT: String(enrollments), STEP_ID: BENCH_DUE_STEP },
      `${label} addBulk`,
      SAMPLE_EVERY_MS,
    );
    await deleteQueueKeys(env.redis, `${env.prefix}:${ADDBULK_QUEUE}`);
    const [bulk] = addBulk.passes as [PassEnd];
    const addBulkMemory = memoryOf(addBulk, bulk);
    const addBulkRate = enrollments / bulk.seconds;
    report.row(SECTION, `plain BullMQ addBulk, ${fmt.count(enrollments)}`, fmt.rate(addBulkRate), `batches of ${config.batchSize}, drip payloads, jobId only, fresh queue; ${memoryNote(addBulkMemory)}`);

    const passes = await runChildPasses("bench/src/drip-pass-child.ts", { ...childEnv(env, config), ...DEPLOYED, PASSES: "2" }, label, SAMPLE_EVERY_MS);
    const [first, second] = passes.passes as [PassEnd, PassEnd];
    const passMemory = memoryOf(passes, first);
    const queue = createQueue("drip", env.redis, env.prefix);
    const waiting = await queue.getWaitingCount().finally(() => queue.close());
    const { rows } = await env.sql.query<{ n: string }>("SELECT count(*) AS n FROM enrollments WHERE enqueued");
    const marked = Number(rows[0]!.n);
    const rate = enrollments / first.seconds;
    report.row(SECTION, `first pass, ${fmt.count(enrollments)} due`, fmt.rate(rate), `${fmt.seconds(first.seconds)}; batch size ${config.batchSize}; ${JSON.stringify(first.result)}`);
    report.row(SECTION, "repeated pass, same unchanged set", fmt.seconds(second.seconds), JSON.stringify(second.result));
    report.row(SECTION, `first pass RSS, heap budget ${SCHEDULER_HEAP_MB} MB`, fmt.mb(passMemory.peak_mb), memoryNote(passMemory));

    if (waiting !== enrollments) problems.push(`${fmt.count(waiting)} drip jobs waiting for ${fmt.count(enrollments)} due enrollments`);
    if (marked !== enrollments) problems.push(`${fmt.count(marked)} of ${fmt.count(enrollments)} enrollments marked enqueued after the passes`);
    const enqueuedAgain = (second.result as { enqueued?: unknown } | null)?.enqueued;
    if (enqueuedAgain !== 0) problems.push(`the repeated pass over ${fmt.count(enrollments)} unchanged enrollments enqueued ${String(enqueuedAgain)} steps`);

    // The run for reading (see DEPLOYED), without the heap budget: bookmarks cleared, jobs and sweep marker deleted,
    // so that it is a first pass again; VACUUM so that it does not wade through the reset's dead rows.
    await env.sql.query("UPDATE enrollments SET enqueued = false");
    await env.sql.query("VACUUM ANALYZE enrollments");
    await deleteQueueKeys(env.redis, `${env.prefix}:${JOBS.drip.queue}`);
    const unboundedRun = await runChildPasses("bench/src/drip-pass-child.ts", { ...childEnv(env, config), PASSES: "1" }, `${label} without the heap budget`, SAMPLE_EVERY_MS);
    const [unbounded] = unboundedRun.passes as [PassEnd];
    const unboundedMemory = memoryOf(unboundedRun, unbounded);
    report.row(SECTION, `  again, without the heap budget`, fmt.mb(unboundedMemory.peak_mb), `${memoryNote(unboundedMemory)}; ${fmt.seconds(unbounded.seconds)}`);
    const unboundedEnqueued = (unbounded.result as { enqueued?: unknown } | null)?.enqueued;
    if (unboundedEnqueued !== enrollments) problems.push(`the pass without the heap budget over ${fmt.count(enrollments)} due enrollments enqueued ${String(unboundedEnqueued)} steps`);

    return {
      enrollments,
      seed_s: round(seedSeconds),
      addbulk_s: round(bulk.seconds),
      addbulk_jobs_per_s: round(addBulkRate, 1),
      addbulk_memory: addBulkMemory,
      first_pass_s: round(first.seconds),
      first_pass_jobs_per_s: round(rate, 1),
      second_pass_s: round(second.seconds, 4),
      first_pass_result: first.result,
      second_pass_result: second.result,
      jobs_waiting_after: waiting,
      enrollments_marked_enqueued: marked,
      first_pass_memory: passMemory,
      unbounded_pass_s: round(unbounded.seconds),
      unbounded_pass_memory: unboundedMemory,
    };
  });
}

function childEnv(env: BenchEnv, config: BenchConfig): Record<string, string> {
  return { DATABASE_URL: env.databaseUrl, REDIS_URL: env.redisUrl, QUEUE_PREFIX: env.prefix, BATCH_SIZE: String(config.batchSize) };
}

function memoryOf(child: ChildPasses, end: PassEnd): RunMemory {
  const sampled = child.sampler.shape(`pass-${end.pass}-start`, `pass-${end.pass}-end`);
  const inside = end.memory as WorkMemory | null | undefined;
  if (inside) return { ...inside, from: "inside: VmHWM reset before the run", sampled_mb: sampled };
  return { baseline_mb: sampled.first, peak_mb: sampled.max, growth_mb: round(sampled.max - sampled.first, 1), from: "parent samples every 10 ms", sampled_mb: sampled };
}

function memoryNote(m: RunMemory): string {
  const inside = m.heap_retained_mb === undefined ? "" : `, ${m.major_gcs} major GCs, heap kept ${fmt.mb(m.heap_retained_mb)}`;
  return `RSS ${fmt.mb(m.baseline_mb)} -> peak ${fmt.mb(m.peak_mb)} (+${fmt.mb(m.growth_mb)})${inside}`;
}
