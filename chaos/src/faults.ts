import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import type { Simulator, SimProvider } from "@nudge/simulator";
import { Client } from "pg";
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
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultContext {
  fleet: ProcessFleet;
  sim: Simulator;
  restartRedis: () => Promise<void>;
  adminUrl: string;
  databaseName: string;
  /** Restarting Postgres needs a local cluster we may control (pg_ctlcluster as root); otherwise the kind is left out. */
  canRestartPostgres: boolean;
}

const PROVIDERS: SimProvider[] = ["twilio-sms", "twilio-voice", "sendgrid", "hubspot"];
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

export function postgresRestartable(adminUrl: string): boolean {
  const host = new URL(adminUrl).hostname;
  return (
    process.getuid?.() === 0 &&
    (host === "127.0.0.1" || host === "localhost") &&
    existsSync("/etc/postgresql") &&
    readdirSync("/etc/postgresql").length > 0
  );
}

/** Injects faults one at a time, kinds in shuffled rounds so that every kind occurs, and counts them. */
export class FaultInjector {
  readonly counts: Partial<Record<FaultKind, number>> = {};
  private round: FaultKind[] = [];
  private readonly kinds: FaultKind[];

  constructor(private readonly ctx: FaultContext) {
    this.kinds = FAULT_KINDS.filter((k) => k !== "pg-restart" || ctx.canRestartPostgres);
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

  private async inject(kind: FaultKind): Promise<void> {
    const { fleet, sim } = this.ctx;
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
      case "scheduler-duplicate-pass":
        fleet.runOnce("scheduler");
        return;
      case "redis-restart-data-lost":
        await this.ctx.restartRedis();
        return;
      case "pg-terminate-backends":
        await this.adminQuery(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
          [this.ctx.databaseName],
        );
        return;
      case "pg-restart":
        await restartPostgres();
        return;
      case "provider-500":
      case "provider-429":
      case "provider-hang":
      case "provider-reset":
      case "provider-accept-then-reset":
        sim.injectFault({
          kind: kind.slice("provider-".length) as "500" | "429" | "hang" | "reset" | "accept-then-reset",
          provider: pick(PROVIDERS),
          times: between(1, 3),
          retryAfterSeconds: 1,
        });
        return;
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

function restartPostgres(): Promise<void> {
  const version = readdirSync("/etc/postgresql").sort().pop()!;
  return new Promise((resolve, reject) => {
    const child = spawn("pg_ctlcluster", ["--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"], { stdio: "ignore" });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctlcluster restart exited ${code}`))));
  });
}
