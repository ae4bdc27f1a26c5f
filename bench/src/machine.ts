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
