import { simulatorProviderEnv } from "@nudge/simulator";
import type { Client } from "pg";
import type { BenchConfig } from "../bench-config";
import { withBenchEnv } from "../bench-env";
import { startChild } from "../child-app";
import { acceptedBySimulator, enqueueDueReminders } from "../nudge-fleet";
import { fmt, progress, round, type Report } from "../report";
import { RssSampler, type RssShape } from "../rss-sampler";
import { deliveryStates, seedDueSmsAppointments, unsentReasons } from "../seed";

export interface WorkerMemoryResult {
  reminders: number;
  concurrency: number;
  peak_rss_mb: number;
  rss_mb: RssShape;
  /** From the process's start until every reminder is settled, start-up included. */
  seconds_to_drain: number;
  sms_accepted: number;
  ledger: Record<string, number>;
  log_lines: number;
  problems: string[];
}

const SECTION = "worker memory";
const IDLE_TIMEOUT_MS = 60_000;

/**
 * The worker as it runs in production, `apps/worker/src/main.ts` in its own process, draining a backlog at high
 * concurrency: its peak resident memory is what a container limit has to allow.
 */
export async function workerMemory(config: BenchConfig, report: Report): Promise<WorkerMemoryResult> {
  const n = config.memoryReminders;
  return withBenchEnv(config, { poolSize: 2 }, async (env) => {
    progress(`${SECTION}: seeding and enqueueing ${fmt.count(n)} reminders`);
    await seedDueSmsAppointments(env.sql, n);
    // Enqueued before the worker starts: it meets a full backlog at once, the worst case for its memory.
    await enqueueDueReminders(env, config.batchSize);

    const started = performance.now();
    const child = startChild("apps/worker/src/main.ts", {
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: env.redisUrl,
      QUEUE_PREFIX: env.prefix,
      ...simulatorProviderEnv(env.sim.url),
      WORKER_CONCURRENCY: String(config.memoryConcurrency),
      LOG_LEVEL: "warn",
    });
    const sampler = new RssSampler(child.pid);
    let peak = 0;
    let seconds = 0;
    try {
      seconds = await waitUntilSettled(env.sql, n, started, child.exited);
      peak = sampler.peakMb();
    } finally {
      sampler.stop();
      await child.stop(30_000);
    }
    const states = await deliveryStates(env.sql);
    const unsent = await unsentReasons(env.sql);
    const accepted = acceptedBySimulator(env);
    const shape = sampler.shape();
    const problems: string[] = [];
    if (accepted.sms !== n || accepted.distinctSmsRecipients !== n) {
      problems.push(`the simulator accepted ${accepted.sms} SMS (${accepted.distinctSmsRecipients} recipients) for ${n} reminders`);
    }
    if ((states.sent ?? 0) !== n) problems.push(`the ledger has ${JSON.stringify(states)} for ${n} reminders; not sent: ${unsent.join("; ")}`);
    // Warnings are the worker's way of saying an attempt failed; with a 0 ms simulator there should be none.
    if (child.lines.length > 0) problems.push(`the worker logged ${child.lines.length} warning line(s), first: ${child.lines[0]!.slice(0, 300)}`);

    report.row(SECTION, `peak RSS, worker process (c=${config.memoryConcurrency})`, fmt.mb(peak), `VmHWM while draining ${fmt.count(n)} reminders; target <= 250 MB`);
    report.row(SECTION, "RSS over the run", fmt.mb(shape.max), `max; first ${fmt.mb(shape.first)}, middle ${fmt.mb(shape.middle)}, last ${fmt.mb(shape.last)} (${shape.samples} samples)`);
    report.row(SECTION, "start to all settled", fmt.seconds(seconds), `${fmt.count(accepted.sms)} SMS accepted, expected ${fmt.count(n)}`);
    for (const problem of problems) report.error(SECTION, problem);
    return {
      reminders: n,
      concurrency: config.memoryConcurrency,
      peak_rss_mb: peak,
      rss_mb: shape,
      seconds_to_drain: round(seconds),
      sms_accepted: accepted.sms,
      ledger: states,
      log_lines: child.lines.length,
      problems,
    };
  });
}

/**
 * Polls the ledger until `n` deliveries exist and none is pending or sending (a delivery that ends `unknown` or
 * `failed` is settled too, and reported); fails when nothing moves for a minute or the worker exits.
 */
async function waitUntilSettled(sql: Client, n: number, started: number, exited: Promise<number | string>): Promise<number> {
  let exitCode: number | string | undefined;
  void exited.then((code) => (exitCode = code));
  let last = "";
  let lastChange = Date.now();
  for (;;) {
    const { rows } = await sql.query<{ total: string; open: string }>(
      "SELECT count(*) AS total, count(*) FILTER (WHERE state IN ('pending', 'sending')) AS open FROM deliveries",
    );
    const total = Number(rows[0]!.total);
    const openCount = Number(rows[0]!.open);
    if (total >= n && openCount === 0) return (performance.now() - started) / 1000;
    if (exitCode !== undefined) throw new Error(`the worker process exited (${exitCode}) with ${total - openCount} of ${n} reminders settled`);
    const seen = `${total}/${openCount}`;
    if (seen !== last) {
      last = seen;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > IDLE_TIMEOUT_MS) {
      throw new Error(`${total - openCount} of ${n} reminders settled, then nothing moved for ${IDLE_TIMEOUT_MS / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
