import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { Simulator, SimProvider } from "@nudge/simulator";
import { Client } from "pg";
import { type FaultEntry, FaultLog } from "./fault-log";
import { waitUntilStopped } from "./proc-state";
import type { ProcessFleet } from "./process-fleet";

export const FAULT_KINDS = [
  "worker-sigkill",
  "scheduler-sigkill",
  "redis-restart-data-lost",
  "pg-terminate-backends",
  "pg-restart",
  "provider-500",
  "provider-429",
  "provider-hang",
  "provider-reset",
  "provider-accept-then-reset",
  "scheduler-duplicate-pass",
  "worker-clock-skew",
  "worker-sigstop-after-claim",
  "reconciler-sigkill",
  "provider-accept-then-500",
  "provider-list-lag",
  "webhook-duplicates",
  "webhook-reorder",
  "webhook-forged",
  "relay-sigkill",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultContext {
  fleet: ProcessFleet;
  sim: Simulator;
  restartRedis: () => Promise<void>;
  adminUrl: string;
  /** The run's database and the example service's: `pg-terminate-backends` cuts every connection to both. */
  databaseNames: string[];
  /** Restarting Postgres needs a local cluster we may control (pg_ctlcluster as root); otherwise the kind is left out. */
  postgresCluster: { version: string; name: string } | undefined;
  /** The workers' SEND_LEASE_MS: a paused worker is kept stopped until its claim's lease has expired. */
  sendLeaseMs: number;
  /** Forges provider webhooks against the webhooks app (see forged-webhooks.ts); resolves with what it sent and what got in. */
  forgeWebhooks: () => Promise<{ sent: number; accepted: string[] }>;
  log: (line: string) => void;
}

/** How long a worker restarted with the after-claim failpoint may take to boot and claim something. */
const CLAIM_DEADLINE_MS = 30_000;

const PROVIDERS: SimProvider[] = ["twilio-sms", "twilio-voice", "sendgrid", "hubspot"];
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

/**
 * The local cluster (Debian's pg_ctlcluster) that serves the admin URL, found by its port: the suite restarts the
 * cluster it runs against and no other, so a run pointed at a cluster of its own (TEST_DATABASE_URL on another
 * port) leaves the machine's main cluster alone. Undefined when there is none we may control (not root, remote).
 */
export function findPostgresCluster(adminUrl: string): { version: string; name: string } | undefined {
  const url = new URL(adminUrl);
  if (process.getuid?.() !== 0 || !["127.0.0.1", "localhost"].includes(url.hostname) || !existsSync("/etc/postgresql")) return undefined;
  const port = url.port || "5432";
  const listed = spawnSync("pg_lsclusters", ["--no-header"], { encoding: "utf8" });
  if (listed.status !== 0) return undefined;
  for (const line of listed.stdout.split("\n")) {
    const [version, name, clusterPort] = line.trim().split(/\s+/);
    if (version && name && clusterPort === port) return { version, name };
  }
  return undefined;
}

/**
 * Injects faults one at a time, kinds in shuffled rounds so that every kind occurs, counts them and logs when each
 * was under way. A fault that lasts (a paused worker) runs in the background so that the others keep their rhythm;
 * `finish()` waits for those.
 */
export class FaultInjector {
  readonly counts: Partial<Record<FaultKind, number>> = {};
  /** Forged webhooks posted, and any the webhooks app accepted (each one a violation). */
  readonly forged = { sent: 0, accepted: [] as string[] };
  readonly log = new FaultLog();
  private round: FaultKind[] = [];
  private readonly kinds: FaultKind[];
  private readonly underWay = new Set<Promise<void>>();
  /** The simulator sets both rates at once: each webhook fault changes its own and keeps the other's. */
  private readonly webhookChaos = { duplicateRate: 0, reorderRate: 0 };

  constructor(private readonly ctx: FaultContext) {
    this.kinds = FAULT_KINDS.filter((k) => k !== "pg-restart" || ctx.postgresCluster !== undefined);
  }

  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + (b ?? 0), 0);
  }

  async injectNext(): Promise<FaultKind> {
    if (this.round.length === 0) this.round = [...this.kinds].sort(() => Math.random() - 0.5);
    const kind = this.round.pop()!;
    await this.inject(kind);
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    return kind;
  }

  /** Waits for the faults still under way (a paused worker is resumed) before the calm at the end. */
  async finish(): Promise<void> {
    while (this.underWay.size) await Promise.all([...this.underWay]);
  }

  private async inject(kind: FaultKind): Promise<void> {
    if (kind === "provider-list-lag" || kind.startsWith("webhook-")) return this.injectLasting(kind);
    if (kind.startsWith("provider-")) return this.injectIntoSimulator(kind);
    const entry = this.log.begin(kind);
    if (kind === "worker-sigstop-after-claim") {
      const pause = this.pauseAfterClaim(entry)
        .catch((error: unknown) => this.ctx.log(`chaos: ${kind} failed: ${(error as Error).message}`))
        .finally(() => {
          this.log.end(entry);
          this.underWay.delete(pause);
        });
      this.underWay.add(pause);
      return;
    }
    try {
      await this.injectAtOnce(kind);
    } finally {
      this.log.end(entry);
    }
  }

  private async injectAtOnce(kind: FaultKind): Promise<void> {
    const { fleet } = this.ctx;
    switch (kind) {
      case "worker-sigkill":
        fleet.killOne("worker", between(300, 2000));
        return;
      case "scheduler-sigkill":
        fleet.killOne("scheduler", between(300, 2000));
        return;
      case "worker-clock-skew":
        // A worker whose clock runs a few seconds off: deadlines and superseding are judged on its clock.
        fleet.killOne("worker", 300, { CLOCK_SKEW_MS: String(pick([-1, 1]) * between(1000, 5000)) });
        return;
      case "reconciler-sigkill":
        fleet.killOne("reconciler", between(300, 2000));
        return;
      case "relay-sigkill":
        // Wherever it is: mid-batch (its rows' transaction rolls back), between marking rows relayed and enqueueing
        // their jobs (the next relay's start-up sweep and the scheduler's one-off pass enqueue them), or idle.
        fleet.killOne("relay", between(300, 2000));
        return;
      case "scheduler-duplicate-pass":
        fleet.runOnce("scheduler");
        return;
      case "redis-restart-data-lost":
        await this.ctx.restartRedis();
        return;
      case "pg-terminate-backends":
        await this.adminQuery(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
          [this.ctx.databaseNames],
        );
        return;
      case "pg-restart":
        await restartPostgres(this.ctx.postgresCluster!);
        return;
      default:
        throw new Error(`${kind} is not injected at once`);
    }
  }

  private injectIntoSimulator(kind: FaultKind): void {
    if (kind === "provider-reset") {
      // A connection reset before anything was accepted, on every channel at once: each channel's way of telling
      // "never had it" from "had it" (lists, callbacks, events) is tried in every run, quick ones included.
      for (const provider of PROVIDERS) {
        this.log.begin(kind, { provider, times: 1 });
        this.ctx.sim.injectFault({ kind: "reset", provider, times: 1 });
      }
      return;
    }
    const provider = pick(PROVIDERS);
    const times = between(1, 3);
    this.log.begin(kind, { provider, times });
    this.ctx.sim.injectFault({
      kind: kind.slice("provider-".length) as "500" | "429" | "hang" | "reset" | "accept-then-reset" | "accept-then-500",
      provider,
      times,
      retryAfterSeconds: 1,
      // The provider created the message and then answered a gateway's 5xx: the likeliest "accepted upstream" reply.
      ...(kind === "provider-accept-then-500" && { status: pick([500, 502, 503, 504] as const) }),
    });
  }

  /**
   * Faults that last a few seconds in the background: Twilio's lists lagging behind the messages they hold; status
   * callbacks and events posted twice or in reverse order; and forged webhooks, each of which must be refused.
   */
  private injectLasting(kind: FaultKind): void {
    const entry = this.log.begin(kind);
    const { sim } = this.ctx;
    const lastMs = between(3000, 8000);
    const undo = (() => {
      switch (kind) {
        case "provider-list-lag":
          sim.setListLag(between(1000, 3000));
          return () => sim.setListLag(0);
        case "webhook-duplicates":
          this.webhookChaos.duplicateRate = 0.5;
          sim.setCallbackChaos(this.webhookChaos);
          return () => sim.setCallbackChaos(Object.assign(this.webhookChaos, { duplicateRate: 0 }));
        case "webhook-reorder":
          this.webhookChaos.reorderRate = 0.5;
          sim.setCallbackChaos(this.webhookChaos);
          return () => sim.setCallbackChaos(Object.assign(this.webhookChaos, { reorderRate: 0 }));
        case "webhook-forged":
          return undefined;
        default:
          throw new Error(`${kind} is not a lasting fault`);
      }
    })();
    const run = (async () => {
      if (kind === "webhook-forged") {
        const result = await this.ctx.forgeWebhooks();
        this.forged.sent += result.sent;
        this.forged.accepted.push(...result.accepted);
      } else {
        await new Promise((r) => setTimeout(r, lastMs));
      }
    })()
      .catch((error: unknown) => this.ctx.log(`chaos: ${kind} failed: ${(error as Error).message}`))
      .finally(() => {
        undo?.();
        this.log.end(entry);
        this.underWay.delete(run);
      });
    this.underWay.add(run);
  }

  /**
   * A worker frozen right after its claim committed (a starved or swapped-out host), kept frozen until its send
   * lease has expired by the database's clock, then resumed: whoever judges the claim abandoned meanwhile may act
   * on it, and the resumed worker must then send nothing for it (a send would show at the end as a duplicate, or as
   * an accepted message the ledger does not call sent). The failpoint stops the process once, on its first claim;
   * the slot's next restart drops it.
   */
  private async pauseAfterClaim(entry: FaultEntry): Promise<void> {
    const { fleet, sendLeaseMs, log } = this.ctx;
    const worker = await fleet.restartHeld("worker", 300, { NUDGE_FAILPOINT: "after-claim:stop" });
    if (!worker) {
      log(`chaos: ${entry.kind}: no worker free to pause`);
      return;
    }
    try {
      if (!(await waitUntilStopped(worker.state, CLAIM_DEADLINE_MS))) {
        // Still armed: killed so that it cannot stop itself later with nobody left to resume it.
        log(`chaos: ${entry.kind}: ${worker.name} did not stop after a claim within ${CLAIM_DEADLINE_MS / 1000} s; restarting it`);
        worker.kill();
        return;
      }
      const stoppedAt = Date.now();
      await new Promise((r) => setTimeout(r, sendLeaseMs + 2000));
      worker.resume();
      log(`chaos: ${entry.kind}: ${worker.name} stopped ${((stoppedAt - entry.from) / 1000).toFixed(1)} s after injection, resumed ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s later`);
    } finally {
      worker.release();
    }
  }

  private async adminQuery(sql: string, params: unknown[]): Promise<void> {
    const client = new Client({ connectionString: this.ctx.adminUrl });
    await client.connect();
    try {
      await client.query(sql, params);
    } finally {
      await client.end();
    }
  }
}

function restartPostgres(cluster: { version: string; name: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("pg_ctlcluster", ["--skip-systemctl-redirect", cluster.version, cluster.name, "restart", "-m", "fast"], { stdio: "ignore" });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctlcluster restart exited ${code}`))));
  });
}
