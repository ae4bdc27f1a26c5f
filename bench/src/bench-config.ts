/**
 * The benchmark's settings, parsed once from the command line and the environment (scripts/bench.sh passes
 * PG_ADMIN_URL and REDIS_URL). Every section receives this plain object and reads nothing else.
 */

export const SECTIONS = ["noop", "unsafe", "nudge", "latency", "scheduler", "memory", "drip", "relay", "api"] as const;
export type SectionName = (typeof SECTIONS)[number];

export interface BenchConfig {
  pgAdminUrl: string;
  redisUrl: string;
  quick: boolean;
  sections: readonly SectionName[];
  /** Jobs per throughput section (noop, unsafe peer, nudge), and outbox rows of the relay section. */
  messages: number;
  /** Worker concurrency of the throughput sections. */
  concurrency: number;
  /** Jobs of the latency-bound section: enough that ramp-up and drain-out are a small fraction of the run. */
  latencyJobs: number;
  latencyConcurrency: number;
  latencyMs: number;
  /** Due appointments of the scheduler section. */
  appointments: number;
  /** Rows read and jobs added per round trip, in the scheduler and drip sections: SCHEDULER_BATCH_SIZE's default. */
  batchSize: number;
  /** Reminders the worker process drains in the memory section. */
  memoryReminders: number;
  memoryConcurrency: number;
  /** Due enrollments of the drip section's main run (rate, repeated pass, memory) ... */
  dripEnrollments: number;
  /** ... and of its smaller run, whose memory growth the main run's is compared with. */
  dripSmallEnrollments: number;
  /** Outbox rows the relay claims and applies per transaction (RELAY_BATCH_SIZE) in the relay section. */
  relayBatchSize: number;
  /** RELAY_CONCURRENCY: batch loops per source (the relay's default). */
  relayConcurrency: number;
  /** Rounds of the relay section (baseline, then relay, each on fresh databases); it judges the median round. */
  relayRounds: number;
  /** POST /v1/messages of the api section, each with its own Idempotency-Key, and how many at a time. */
  apiRequests: number;
  apiConcurrency: number;
}

const DEFAULTS = {
  messages: 20_000,
  concurrency: 50,
  latencyJobs: 8_000,
  latencyConcurrency: 200,
  latencyMs: 200,
  appointments: 1_000_000,
  batchSize: 1_000,
  memoryReminders: 5_000,
  memoryConcurrency: 200,
  dripEnrollments: 100_000,
  dripSmallEnrollments: 10_000,
  relayBatchSize: 1_000,
  relayConcurrency: 2,
  relayRounds: 5,
  apiRequests: 5_000,
  apiConcurrency: 32,
};

/** Small enough for a smoke check in well under a minute; the ratios are noisier but every code path runs. */
const QUICK = { messages: 2_000, latencyJobs: 2_000, appointments: 20_000, memoryReminders: 1_000, dripEnrollments: 10_000, dripSmallEnrollments: 1_000, apiRequests: 1_000, relayRounds: 1 };

const NUMERIC_FLAGS: Record<string, keyof typeof DEFAULTS> = {
  "--messages": "messages",
  "--concurrency": "concurrency",
  "--latency-jobs": "latencyJobs",
  "--latency-concurrency": "latencyConcurrency",
  "--latency-ms": "latencyMs",
  "--appointments": "appointments",
  "--batch-size": "batchSize",
  "--memory-reminders": "memoryReminders",
  "--memory-concurrency": "memoryConcurrency",
  "--drip-enrollments": "dripEnrollments",
  "--drip-small-enrollments": "dripSmallEnrollments",
  "--relay-batch-size": "relayBatchSize",
  "--relay-concurrency": "relayConcurrency",
  "--relay-rounds": "relayRounds",
  "--api-requests": "apiRequests",
  "--api-concurrency": "apiConcurrency",
};

export const USAGE = `Usage: npm run bench -- [--quick] [--only ${SECTIONS.join(",")}] [${Object.keys(NUMERIC_FLAGS)
  .map((f) => `${f} N`)
  .join("] [")}]
Defaults: ${Object.entries(DEFAULTS)
  .map(([k, v]) => `${k}=${v}`)
  .join(" ")}; --quick: ${Object.entries(QUICK)
  .map(([k, v]) => `${k}=${v}`)
  .join(" ")} (explicit flags win).`;

export class UsageError extends Error {}

export function parseBenchConfig(argv: readonly string[], env: NodeJS.ProcessEnv): BenchConfig {
  const quick = argv.includes("--quick");
  const sizes: Record<keyof typeof DEFAULTS, number> = { ...DEFAULTS, ...(quick ? QUICK : {}) };
  let sections: readonly SectionName[] = SECTIONS;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === "--quick") continue;
    if (flag === "--help" || flag === "-h") throw new UsageError(USAGE);
    const value = argv[i + 1];
    if (flag === "--only") {
      const names = (value ?? "").split(",").filter(Boolean);
      const unknown = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
      if (names.length === 0 || unknown.length) {
        throw new UsageError(`--only takes a comma-separated list of ${SECTIONS.join(", ")}; got ${JSON.stringify(value ?? "")}`);
      }
      sections = SECTIONS.filter((s) => names.includes(s));
      i++;
      continue;
    }
    const key = NUMERIC_FLAGS[flag];
    if (!key) throw new UsageError(`Unknown flag ${flag}.\n${USAGE}`);
    const n = Number(value?.replace(/_/g, ""));
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} needs a positive integer, got ${JSON.stringify(value ?? "")}`);
    sizes[key] = n;
    i++;
  }
  return {
    pgAdminUrl: env.PG_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres",
    redisUrl: env.REDIS_URL ?? "redis://127.0.0.1:6379",
    quick,
    sections,
    ...sizes,
  };
}
