import path from "node:path";
import { eventually, freePort, REPO_ROOT, runCommand, startApp, startRedisServer, type AppProcess, type RedisServer } from "@nudge/testing";
import { Pool } from "pg";
import { type Fleet, startFleet } from "./fleet";

/**
 * The HTTP API as services use it: `nudge api` as a real process, tokens made by `nudge tokens create`, the worker
 * and scheduler as real processes, the provider simulator through the real SDKs. What was sent is judged by the
 * simulator's record, never by Nudge's own ledger.
 */
jest.setTimeout(300_000);

const NUDGE_BIN = path.join(REPO_ROOT, "node_modules/.bin/nudge");
const SOURCE = "booking-service";

interface Reply {
  status: number;
  body: string;
}

async function createToken(env: Record<string, string>, scopes: string): Promise<string> {
  const run = await runCommand(NUDGE_BIN, ["tokens", "create", "--source", SOURCE, "--scopes", scopes, "--name", "e2e"], env);
  expect(run.code).toBe(0);
  const token = run.lines.find((l) => /^nudge_[A-Za-z0-9_-]{43}$/.test(l));
  if (!token) throw new Error(`no token printed: ${run.lines.join("\n")}`);
  return token;
}

async function startApi(env: Record<string, string>): Promise<{ api: AppProcess; url: string }> {
  const port = await freePort();
  // The webhooks stay off (no provider secrets): this is the API alone, on Nudge's database and queues.
  const { DATABASE_URL, REDIS_URL, QUEUE_PREFIX } = env as Record<"DATABASE_URL" | "REDIS_URL" | "QUEUE_PREFIX", string>;
  const api = startApp("apps/cli/src/main.ts", { DATABASE_URL, REDIS_URL, QUEUE_PREFIX, API_PORT: String(port), API_HOST: "127.0.0.1", API_RATE_LIMIT_PER_MINUTE: "1000000" }, ["api"]);
  await api.waitForLine(/api listening/);
  return { api, url: `http://127.0.0.1:${port}` };
}

const email = (run: string, i: number) => ({
  channel: "email",
  contact: { id: `${run}-${i}`, name: `Patient ${i}`, email: `${run}-${i}@example.com` },
  subject: `${run} message ${i}`,
  body: "Your results are ready.",
});

/** Emails the simulator accepted per address, for one run's subjects. */
function accepted(fleet: Fleet, run: string): Map<string, number> {
  const counts = new Map<string, number>();
  const subject = new RegExp(`^${run} message \\d+$`);
  for (const r of fleet.sim.records({ provider: "sendgrid" })) if (subject.test(r.subject ?? "")) counts.set(r.to, (counts.get(r.to) ?? 0) + 1);
  return counts;
}

describe("the HTTP API, end to end", () => {
  let fleet: Fleet | undefined;
  let redis: RedisServer | undefined;
  const apps: AppProcess[] = [];

  let redisDown = false;

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.kill("SIGKILL")));
    // A test that failed with Redis down: back up, so that closing the fleet's queue does not wait for it forever.
    if (redisDown) await redis?.restart();
    redisDown = false;
    await fleet?.close();
    fleet = undefined;
    await redis?.stop();
    redis = undefined;
  });

  test("1,000 concurrent requests on 100 idempotency keys make 100 messages by the simulator's record; replays answer byte for byte, another body 422, a replay in flight 409", async () => {
    fleet = await startFleet();
    const { api, url } = await startApi(fleet.workerEnv);
    apps.push(api);
    await fleet.startWorker({ WORKER_CONCURRENCY: "16" });
    const token = await createToken(fleet.workerEnv, "send,read");
    const post = async (body: unknown, key: string, route = "/v1/messages"): Promise<Reply> => {
      const res = await fetch(url + route, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": key }, body: JSON.stringify(body) });
      return { status: res.status, body: await res.text() };
    };

    // Ten requests per key, all at once: each key is claimed by one, the others get 409 (in flight) or its answer.
    const keyOf = (i: number) => `api-burst-${i}`;
    const burst = await Promise.all(Array.from({ length: 1000 }, async (_, n) => ({ i: n % 100, reply: await post(email("burst", n % 100), keyOf(n % 100)) })));
    const statuses = new Map<number, number>();
    for (const { reply } of burst) statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
    // 201 (the key's answer) or 409 (its first request in flight); a 503 only if Postgres turned a connection away
    // (other tests' databases share this server), which gives the key back: the replays below then settle it.
    expect([...statuses.keys()].filter((s) => s !== 201 && s !== 409 && s !== 503)).toEqual([]);
    if (statuses.has(503)) console.warn(`${statuses.get(503)} of the burst answered 503: ${api.output.filter((l) => /"level":50/.test(l)).slice(0, 2).join(" | ").slice(0, 400)}`);

    // Every key's first answer, by a replay after the burst: it is what every 201 of the burst said, byte for byte.
    const firsts: string[] = [];
    for (let i = 0; i < 100; i++) {
      const replay = await post(email("burst", i), keyOf(i));
      expect(replay.status).toBe(201);
      firsts.push(replay.body);
      for (const { reply } of burst.filter((b) => b.i === i && b.reply.status === 201)) expect(reply.body).toBe(replay.body);
    }
    expect(new Set(firsts.map((b) => JSON.parse(b).messageId)).size).toBe(100);

    // Another body under a used key: 422, and no message.
    const changed = await post({ ...email("burst", 3), body: "Something else" }, keyOf(3));
    expect(changed.status).toBe(422);

    await eventually(
      "100 emails at the provider",
      async () => {
        const counts = accepted(fleet!, "burst");
        if (counts.size === 100) return true;
        throw new Error(`${counts.size} of 100`);
      },
      120_000,
    );
    const counts = accepted(fleet, "burst");
    expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
    // The message's state, read back through the API.
    const messageId = JSON.parse(firsts[0]!).messageId as number;
    const state = await eventually("message 0 sent, as the API reads it", async () => {
      const res = await fetch(`${url}/v1/messages/${messageId}`, { headers: { authorization: `Bearer ${token}` } });
      const json = (await res.json()) as { state: string };
      return json.state === "sent" ? json : undefined;
    });
    expect(state).toMatchObject({ state: "sent", delivery: { channel: "email", recipient: "burst-0@example.com" } });

    // A replay while the first request is held in flight: a transaction of the test's holds relay_requests against
    // inserts, so the first request claims its key and then waits for the lock.
    const pool = new Pool({ connectionString: fleet.workerEnv.DATABASE_URL, max: 2 });
    try {
      const holder = await pool.connect();
      let first: Promise<Reply> | undefined;
      try {
        await holder.query("BEGIN");
        await holder.query("LOCK TABLE relay_requests IN SHARE MODE");
        first = post(email("held", 1), "api-held-1");
        await eventually("the held request's key claimed and its insert waiting", async () => {
          const { rows } = await pool.query<{ waiting: number; claimed: number }>(
            `SELECT (SELECT count(*)::int FROM pg_locks WHERE NOT granted AND relation = 'relay_requests'::regclass) AS waiting,
                    (SELECT count(*)::int FROM api_idempotency WHERE idempotency_key = 'api-held-1' AND state = 'processing') AS claimed`,
          );
          return rows[0]!.waiting > 0 && rows[0]!.claimed === 1 ? true : undefined;
        });
        const inFlight = await post(email("held", 1), "api-held-1");
        expect(inFlight.status).toBe(409);
        await holder.query("ROLLBACK");
      } finally {
        holder.release();
      }
      const answer = await first!;
      expect(answer.status).toBe(201);
      expect(await post(email("held", 1), "api-held-1")).toEqual(answer);
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM relay_requests WHERE source = $1`, [SOURCE]);
      expect(rows[0]!.n).toBe(101);
    } finally {
      await pool.end();
    }

    // `nudge tokens list` shows the token's id and source, never the token; `nudge tokens revoke` ends it at once.
    const listed = await runCommand(NUDGE_BIN, ["tokens", "list"], fleet.workerEnv);
    expect(listed.code).toBe(0);
    expect(listed.lines.join("\n")).not.toContain(token);
    const id = listed.lines.map((l) => l.split("\t")).find((cols) => cols[1] === SOURCE && cols[3] === "active")![0]!;
    expect((await runCommand(NUDGE_BIN, ["tokens", "revoke", id], fleet.workerEnv)).code).toBe(0);
    const revoked = await post(email("revoked", 1), "api-after-revoke");
    expect([revoked.status, JSON.parse(revoked.body).error]).toEqual([401, "the bearer token is not valid (unknown or revoked)"]);
  });

  test("Redis stopped while 500 requests are accepted: each of the 500 messages is sent once after Redis returns", async () => {
    redis = await startRedisServer();
    fleet = await startFleet({ redisUrl: redis.url });
    fleet.queue.on("error", () => undefined); // Redis is killed on purpose below
    const env = { ...fleet.workerEnv, SCHEDULER_INTERVAL_MS: "1000" };
    const { api, url } = await startApi(env);
    apps.push(api);
    await fleet.startWorker({ WORKER_CONCURRENCY: "16" });
    apps.push(startApp("apps/scheduler/src/main.ts", env));
    const token = await createToken(env, "send");

    await redis.kill();
    redisDown = true;
    const replies: Reply[] = [];
    let retried = 0;
    let next = 0;
    const poster = async () => {
      for (;;) {
        const i = next++;
        if (i >= 500) return;
        // As a client should: a 503 (Postgres busy: this machine runs other tests' databases too) is retried with
        // the same key, which can never make a second message.
        for (let attempt = 1; ; attempt++) {
          const res = await fetch(`${url}/v1/messages`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": `outage-${i}` },
            body: JSON.stringify(email("outage", i)),
          });
          const reply = { status: res.status, body: await res.text() };
          if ((reply.status === 503 || reply.status === 409) && attempt < 20) {
            retried++;
            await new Promise((r) => setTimeout(r, 200 * attempt));
            continue;
          }
          replies.push(reply);
          break;
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, poster));
    const failures = api.output.filter((line) => /"level":(50|60)/.test(line)).slice(0, 5);
    expect(replies.filter((r) => r.status !== 201)).toEqual([]);
    if (retried > 0) console.warn(`${retried} request(s) answered 503 and retried with their key; the api logged: ${failures.join(" | ").slice(0, 600)}`);
    // Accepted with Redis down: nothing could have been sent.
    expect(accepted(fleet, "outage").size).toBe(0);

    await redis.restart();
    redisDown = false;
    await eventually(
      "500 emails at the provider after Redis returned",
      async () => {
        const counts = accepted(fleet!, "outage");
        if (counts.size === 500) return true;
        throw new Error(`${counts.size} of 500`);
      },
      180_000,
    );
    const counts = accepted(fleet, "outage");
    expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
    const settled = await fleet.settled(500, 60_000);
    expect(settled.filter((d) => d.state !== "sent")).toEqual([]);
  });
});
