import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:net";
import type { BenchConfig } from "../bench-config";
import { type BenchEnv, withBenchEnv } from "../bench-env";
import { startChild } from "../child-app";
import { fmt, progress, round, type Report } from "../report";

/**
 * Issue 11, acceptance 5: the HTTP API's accepted requests per second, each a one-off message with its own
 * Idempotency-Key, through `apps/api/src/main.ts` in its own process as in production; the relay's rate comes from
 * the relay section of the same run (main.ts prints the ratio when both ran).
 */
export interface ApiResult {
  requests: number;
  concurrency: number;
  /** From the first request sent to the last 201 received. */
  accept_s: number;
  api_requests_per_s: number;
  /** From the first request sent until every message has its job (its handoff deleted): the relay's own end point. */
  enqueued_s: number;
  api_enqueued_per_s: number;
  /** The same requests again, same keys and bodies: every one a stored answer, replayed. */
  replay_requests_per_s: number;
  problems: string[];
}

const SECTION = "api";
const SOURCE = "bench-api";
const POLL_MS = 20;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const body = (i: number) =>
  JSON.stringify({
    channel: "email",
    contact: { id: `api-user-${i}`, name: `User ${i}`, email: `api-user-${i}@example.com` },
    subject: "Welcome",
    body: `Welcome aboard, user ${i}`,
  });

export async function apiSection(config: BenchConfig, report: Report): Promise<ApiResult> {
  return withBenchEnv(config, { poolSize: 2 }, (env) => measure(config, env, report));
}

async function measure(config: BenchConfig, env: BenchEnv, report: Report): Promise<ApiResult> {
  const n = config.apiRequests;
  const concurrency = config.apiConcurrency;
  const problems: string[] = [];
  // A token as `nudge tokens create` makes one: 32 random bytes, only the SHA-256 stored.
  const token = `nudge_${randomBytes(32).toString("base64url")}`;
  await env.sql.query(`INSERT INTO api_tokens (name, source, scopes, token_hash) VALUES ('bench', $1, ARRAY['send'], $2)`, [
    SOURCE,
    createHash("sha256").update(token).digest("hex"),
  ]);
  const port = await freePort();
  const child = startChild("apps/api/src/main.ts", {
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.prefix,
    API_PORT: String(port),
    API_HOST: "127.0.0.1",
    API_RATE_LIMIT_PER_MINUTE: String(10 * n),
    LOG_LEVEL: "info",
  });
  try {
    await waitFor(() => child.lines.some((line) => line.includes('"msg":"api listening"')), child.exited, "the api to listen");
    const url = `http://127.0.0.1:${port}/v1/messages`;
    const headers = (i: number) => ({ authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": `bench-welcome-${i}` });
    const fire = async (expected: number): Promise<number> => {
      let next = 0;
      const statuses = new Map<number, number>();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (;;) {
            const i = next++;
            if (i >= n) return;
            const res = await fetch(url, { method: "POST", headers: headers(i), body: body(i) });
            await res.arrayBuffer();
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      if ((statuses.get(expected) ?? 0) !== n) problems.push(`expected ${n} answers ${expected}, got ${JSON.stringify(Object.fromEntries(statuses))}`);
      return seconds;
    };

    progress(`${SECTION}: ${fmt.count(n)} POST /v1/messages, ${concurrency} at a time, each with its own Idempotency-Key`);
    const started = performance.now();
    const acceptSeconds = await fire(201);
    await waitFor(async () => (await enqueued(env)) >= n, child.exited, "every message enqueued", 5 * 60_000);
    const enqueuedSeconds = (performance.now() - started) / 1000;
    const replaySeconds = await fire(201);

    const [counts] = (
      await env.sql.query<{ requests: number; messages: number; keys: number }>(
        `SELECT (SELECT count(*)::int FROM relay_requests WHERE outcome = 'applied') AS requests,
                (SELECT count(*)::int FROM one_off_messages) AS messages,
                (SELECT count(*)::int FROM api_idempotency WHERE state = 'done') AS keys`,
      )
    ).rows;
    if (counts!.requests !== n || counts!.messages !== n || counts!.keys !== n) problems.push(`Nudge's database has ${JSON.stringify(counts)} for ${n} requests (replays included)`);
    const complaints = child.lines.filter((line) => /"level":(40|50|60)/.test(line) && !line.includes("are off (404)") && !line.includes("Inbound Parse is off"));
    if (complaints.length > 0) problems.push(`the api logged ${complaints.length} warning or error line(s), first: ${complaints[0]!.slice(0, 300)}`);

    const acceptRate = n / acceptSeconds;
    report.row(SECTION, `HTTP API, ${fmt.count(n)} accepted (201)`, `${Math.round(acceptRate).toLocaleString("en-US")} req/s`, `${fmt.seconds(acceptSeconds)}; c=${concurrency}, each its own Idempotency-Key, written to Postgres before the answer; its own process`);
    report.row(SECTION, `HTTP API, until all enqueued`, `${Math.round(n / enqueuedSeconds).toLocaleString("en-US")} msg/s`, `${fmt.seconds(enqueuedSeconds)}: the relay section's end point (every one-off's job in the queue, no handoff left)`);
    report.row(SECTION, `replays of the same ${fmt.count(n)}`, `${Math.round(n / replaySeconds).toLocaleString("en-US")} req/s`, "same keys and bodies: the stored answers, byte for byte");
    for (const problem of problems) report.error(SECTION, problem);
    return {
      requests: n,
      concurrency,
      accept_s: round(acceptSeconds),
      api_requests_per_s: round(acceptRate, 1),
      enqueued_s: round(enqueuedSeconds),
      api_enqueued_per_s: round(n / enqueuedSeconds, 1),
      replay_requests_per_s: round(n / replaySeconds, 1),
      problems,
    };
  } finally {
    await child.stop(30_000);
  }
}

async function enqueued(env: BenchEnv): Promise<number> {
  // Written with their bookmark set and a handoff, which is deleted once their jobs are added.
  const { rows } = await env.sql.query<{ n: number }>(
    `SELECT (SELECT count(*)::int FROM one_off_messages WHERE enqueued) - (SELECT coalesce(sum(cardinality(message_ids)), 0)::int FROM one_off_handoffs) AS n`,
  );
  return rows[0]!.n;
}

async function waitFor(check: () => boolean | Promise<boolean>, exited: Promise<unknown>, what: string, timeoutMs = 60_000): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (gone) throw new Error(`the api exited while waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
