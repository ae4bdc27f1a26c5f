import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import path from "node:path";
import IORedis from "ioredis";
import {
  adminQuery,
  createTestDatabase,
  databaseUrl,
  deletePrefix,
  freePort,
  REPO_ROOT,
  runCommand,
  startRedisServer,
  TEST_REDIS_URL,
  testQueuePrefix,
  type CommandRun,
  type RedisServer,
  type TestDatabase,
} from "@nudge/testing";

/**
 * The `nudge` command as a cron or an operator runs it: the bin npm linked into node_modules/.bin, and
 * `npm run tick`, as real processes against real servers. The acceptance criterion for a one-shot command with a
 * server down is an exit within 10 s with one line naming the server; the measured times are printed at the end.
 */

const NUDGE_BIN = path.join(REPO_ROOT, "node_modules/.bin/nudge");
const LIMIT_MS = 10_000;

type Run = CommandRun;

const measured: string[] = [];
afterAll(() => {
  if (measured.length) console.log(`nudge exit times (criterion: < ${LIMIT_MS} ms):\n  ${measured.join("\n  ")}`);
});

/** Accepts TCP connections and never answers, as a stopped or wedged server does. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The private Redis's pid, from the server itself, so that the test can SIGSTOP it. */
async function redisPid(url: string): Promise<number> {
  const redis = new IORedis(url);
  try {
    const info = await redis.info("server");
    return Number(/process_id:(\d+)/.exec(info)![1]);
  } finally {
    redis.disconnect();
  }
}

const STACK_LINE = /^\s+at /;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

interface Outage {
  name: string;
  server: "Redis" | "PostgreSQL";
  /** Sets up the outage; returns the env pointing at it, the URL as it must be printed, and the cleanup. */
  start(): Promise<{ env: Record<string, string>; shownUrl: string; secret?: string; stop(): Promise<void> }>;
}

const outages: Outage[] = [
  {
    name: "Redis stopped (connection refused)",
    server: "Redis",
    start: async () => {
      const redis = await startRedisServer();
      await redis.stop();
      return { env: { DATABASE_URL: db.url, REDIS_URL: redis.url }, shownUrl: redis.url, stop: async () => undefined };
    },
  },
  {
    name: "Redis SIGSTOPped (accepts TCP, never answers)",
    server: "Redis",
    start: async () => {
      const redis: RedisServer = await startRedisServer();
      const pid = await redisPid(redis.url);
      process.kill(pid, "SIGSTOP");
      const url = `redis://:hunter2@127.0.0.1:${redis.port}`;
      return {
        env: { DATABASE_URL: db.url, REDIS_URL: url },
        shownUrl: `redis://:***@127.0.0.1:${redis.port}`,
        secret: "hunter2",
        stop: async () => {
          process.kill(pid, "SIGCONT");
          await redis.stop();
        },
      };
    },
  },
  {
    name: "PostgreSQL not listening (connection refused)",
    server: "PostgreSQL",
    start: async () => {
      const port = await freePort();
      return {
        env: { DATABASE_URL: `postgresql://postgres:hunter2@127.0.0.1:${port}/nudge`, REDIS_URL: TEST_REDIS_URL },
        shownUrl: `postgresql://postgres:***@127.0.0.1:${port}/nudge`,
        secret: "hunter2",
        stop: async () => undefined,
      };
    },
  },
  {
    name: "PostgreSQL accepting TCP and never answering",
    server: "PostgreSQL",
    start: async () => {
      const silent = await silentServer();
      const url = `postgresql://postgres@127.0.0.1:${silent.port}/nudge`;
      return { env: { DATABASE_URL: url, REDIS_URL: TEST_REDIS_URL }, shownUrl: url, stop: () => silent.close() };
    },
  },
];

const fix = { Redis: "REDIS_URL", PostgreSQL: "DATABASE_URL" } as const;

describe.each(outages)("one-shot command with $name", (outage) => {
  let setup: Awaited<ReturnType<Outage["start"]>>;
  beforeEach(async () => {
    setup = await outage.start();
  });
  afterEach(() => setup.stop());

  const expectedLine = () => `${outage.server} is not answering at ${setup.shownUrl} (`;

  it("`nudge tick` exits non-zero within 10 s with one line naming the server, its URL and the fix", async () => {
    const result = await runCommand(NUDGE_BIN, ["tick"], setup.env);
    measured.push(`nudge tick, ${outage.name}: exit ${result.code} after ${result.ms} ms`);
    expect(result.lines).toHaveLength(1);
    const line = result.lines[0]!;
    expect(line.startsWith(`nudge tick: ${expectedLine()}`)).toBe(true);
    expect(line).toMatch(new RegExp(`: start it \\(docker compose up -d ${outage.server === "Redis" ? "redis" : "postgres"}\\) or set ${fix[outage.server]}$`));
    if (setup.secret) expect(line).not.toContain(setup.secret);
    expect(result.code).not.toBe(0);
    expect(typeof result.code).toBe("number");
    expect(result.ms).toBeLessThan(LIMIT_MS);
  });

  it("`npm run tick` exits non-zero within 10 s, printing that line once and no stack trace", async () => {
    const result = await runCommand("npm", ["run", "tick"], setup.env);
    measured.push(`npm run tick, ${outage.name}: exit ${result.code} after ${result.ms} ms`);
    expect(result.lines.filter((l) => l.includes(expectedLine()))).toHaveLength(1);
    expect(result.lines.filter((l) => STACK_LINE.test(l))).toEqual([]);
    if (setup.secret) expect(result.lines.join("\n")).not.toContain(setup.secret);
    expect(result.code).not.toBe(0);
    expect(result.ms).toBeLessThan(LIMIT_MS);
  });
});

describe("nudge", () => {
  it("--help lists the subcommands", async () => {
    const result = await runCommand(NUDGE_BIN, ["--help"], {});
    expect(result.code).toBe(0);
    const commands = result.lines.map((l) => /^ {2}(\w+)\b/.exec(l)?.[1]).filter(Boolean);
    expect(commands).toEqual(expect.arrayContaining(["migrate", "tick", "scheduler", "worker", "api", "reconcile", "campaigns"]));
  });

  it("`nudge campaigns load` loads the repository's campaign files once, refuses a bad one naming the field, and `enroll` names an unknown contact", async () => {
    const env = { DATABASE_URL: db.url };
    const first = await runCommand(NUDGE_BIN, ["campaigns", "load"], env);
    expect(first).toMatchObject({ code: 0, lines: expect.arrayContaining([expect.stringMatching(/^created demo-welcome version \d+ /)]) });
    const again = await runCommand(NUDGE_BIN, ["campaigns", "load"], env);
    expect(again).toMatchObject({ code: 0, lines: expect.arrayContaining([expect.stringMatching(/^unchanged demo-welcome version \d+ /)]) });
    const dir = mkdtempSync(path.join(tmpdir(), "nudge-campaign-"));
    const bad = path.join(dir, "bad.yaml");
    writeFileSync(bad, "id: bad-one\nname: Bad\nversion: 1\nsteps:\n  - id: first\n    channel: fax\n    template: hi\n    delayHours: -1\n");
    const refused = await runCommand(NUDGE_BIN, ["campaigns", "load", bad], env);
    expect(refused.code).toBe(1);
    expect(refused.lines.join("\n")).toMatch(/refused .*bad\.yaml: .*steps\[0\]\.channel.*fax/s);
    expect(refused.lines.join("\n")).toMatch(/steps\[0\]\.delayHours/);
    const unknown = await runCommand(NUDGE_BIN, ["campaigns", "enroll", "demo-welcome", "987654"], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.lines.join("\n")).toMatch(/contactId: contact 987654 does not exist/);
    expect(unknown.lines.filter((l) => STACK_LINE.test(l))).toEqual([]);
  }, 180_000);

  it("`nudge worker` with Redis refused exits non-zero within 10 s with the same one line", async () => {
    const port = await freePort();
    const result = await runCommand(NUDGE_BIN, ["worker"], { DATABASE_URL: db.url, REDIS_URL: `redis://127.0.0.1:${port}` });
    measured.push(`nudge worker, Redis stopped (connection refused): exit ${result.code} after ${result.ms} ms`);
    expect(result.lines).toEqual([
      `nudge worker: Redis is not answering at redis://127.0.0.1:${port} (connect ECONNREFUSED): start it (docker compose up -d redis) or set REDIS_URL`,
    ]);
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(LIMIT_MS);
  });

  it("`nudge tick` against healthy servers and a migrated database runs one pass and exits 0", async () => {
    const prefix = testQueuePrefix();
    try {
      const result = await runCommand(NUDGE_BIN, ["tick"], { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix });
      // The whole run in the comparison: a failure shows what the command printed.
      expect(result).toMatchObject({ code: 0, lines: expect.arrayContaining([expect.stringContaining("scheduler pass done")]) });
      expect(result.lines.filter((l) => STACK_LINE.test(l))).toEqual([]);
    } finally {
      await deletePrefix(prefix);
    }
  });

  it("`nudge migrate` creates the database and applies every migration; a second run applies none", async () => {
    const name = `nudge_test_cli_${randomBytes(4).toString("hex")}`;
    const env = { DATABASE_URL: databaseUrl(name) };
    try {
      const first = await runCommand(NUDGE_BIN, ["migrate"], env);
      expect(first.code).toBe(0);
      expect(first.lines[0]).toBe(`created database ${name}`);
      expect(first.lines[1]).toMatch(/^migrations: [1-9]\d* applied \(\d{14}_init, .*\), 0 already applied$/);
      const second = await runCommand(NUDGE_BIN, ["migrate"], env);
      expect(second.code).toBe(0);
      expect(second.lines).toEqual([expect.stringMatching(/^migrations: 0 applied \(none\), [1-9]\d* already applied$/)]);
    } finally {
      await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  });
});
