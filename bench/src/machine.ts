import { readFileSync } from "node:fs";
import os from "node:os";
import type { Redis } from "@nudge/queue";
import { Client } from "pg";

/** What the figures were measured on: ratios travel between machines, absolute rates do not. */
export interface Machine {
  cpu: string;
  cores: number;
  memory_gib: number;
  node: string;
  redis: string;
  postgres: string;
}

export async function describeMachine(redis: Redis, pgAdminUrl: string): Promise<Machine> {
  const redisInfo = await redis.info("server");
  const pg = new Client({ connectionString: pgAdminUrl });
  await pg.connect();
  try {
    const { rows } = await pg.query<{ server_version: string }>("SHOW server_version");
    return {
      cpu: cpuModel(),
      cores: os.cpus().length,
      memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
      redis: /redis_version:(\S+)/.exec(redisInfo)?.[1] ?? "unknown",
      postgres: rows[0]?.server_version ?? "unknown",
    };
  } finally {
    await pg.end();
  }
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (match) return match[1]!.trim();
  } catch {
    // Not Linux: fall through to what Node knows.
  }
  return os.cpus()[0]?.model ?? "unknown";
}

/**
 * A meter started now: `busySeconds()` is the CPU time the whole machine has spent busy since (every process: the
 * measured one, Postgres, Redis, the kernel), from /proc/stat; undefined off Linux. On a machine shared by the app
 * and its databases this is the cost that decides a rate once every core is busy.
 */
export function machineCpu(): { busySeconds: () => number | undefined } {
  const start = busyTicks();
  return { busySeconds: () => (start === undefined ? undefined : (busyTicks()! - start) / TICKS_PER_SECOND) };
}

/** USER_HZ: /proc/stat counts in hundredths of a second on every Linux architecture Node runs on. */
const TICKS_PER_SECOND = 100;

function busyTicks(): number | undefined {
  try {
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice: busy is user, nice, system, irq and
    // softirq (guest time is counted in user already; steal went to other machines).
    const [user, nice, system, , , irq, softirq] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const busy = user! + nice! + system! + irq! + softirq!;
    return Number.isFinite(busy) ? busy : undefined;
  } catch {
    return undefined;
  }
}
