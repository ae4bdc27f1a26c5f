import { spawn } from "node:child_process";
import path from "node:path";
import { DeliveryLedger } from "@nudge/db";
import { createAppointment, createContact, freePort, REPO_ROOT, startApp, type AppProcess } from "@nudge/testing";
import { Client } from "pg";
import { startFleet, type Fleet } from "./fleet";

/**
 * The dashboard as it runs in production: its own process on its own port, its users added with `nudge users add`
 * (the real bin, password on stdin), next to a fleet (database, queue prefix, provider simulator) of the test's own.
 * The dashboard is reached over plain http here, hence DASHBOARD_SECURE_COOKIE=off (as the local demo does).
 */
export const OPERATOR = { name: "ops-olga", password: "correct horse battery staple" };
export const VIEWER = { name: "view-vic", password: "viewer password 1234" };

export interface DashboardFleet extends Fleet {
  dashboard: AppProcess;
  url: string;
  /** The dashboard's own origin, the only Origin its writes accept. */
  origin: string;
  env: Record<string, string>;
  pg: Client;
  login(user: { name: string; password: string }): Promise<string>;
  /** A fetch with the session cookie (if any) and, for writes, the dashboard's Origin unless one is given. */
  request(method: string, pathname: string, options?: { cookie?: string; origin?: string | null; body?: string; type?: string }): Promise<Response>;
  /** A reminder delivery the reconciler could not decide, as it leaves one: `unknown`, awaiting an operator. */
  seedAwaitingDecision(): Promise<{ deliveryId: number; phone: string }>;
}

const NUDGE_BIN = path.join(REPO_ROOT, "node_modules/.bin/nudge");

/** `nudge users add`, the password piped to its standard input. */
export function addUser(env: Record<string, string>, name: string, role: string, password: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(NUDGE_BIN, ["users", "add", name, "--role", role], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("close", (code) => resolve({ code, output }));
    child.stdin.end(`${password}\n`);
  });
}

export async function startDashboardFleet(extraEnv: Record<string, string> = {}): Promise<DashboardFleet> {
  const fleet = await startFleet();
  const databaseUrl = fleet.workerEnv.DATABASE_URL!;
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: fleet.redisUrl,
    QUEUE_PREFIX: fleet.prefix,
    DASHBOARD_PORT: String(port),
    DASHBOARD_PUBLIC_URL: origin,
    DASHBOARD_SECURE_COOKIE: "off",
    ...extraEnv,
  };
  const added = await Promise.all([addUser(env, OPERATOR.name, "operator", OPERATOR.password), addUser(env, VIEWER.name, "viewer", VIEWER.password)]);
  for (const a of added) if (a.code !== 0) throw new Error(`nudge users add failed: ${a.output}`);
  const dashboard = startApp("apps/dashboard/src/main.ts", env);
  await dashboard.waitForLine(/"msg":"dashboard listening"/);
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();

  const request: DashboardFleet["request"] = (method, pathname, options = {}) => {
    const headers: Record<string, string> = {};
    if (options.cookie) headers.cookie = options.cookie;
    const origin = options.origin === undefined ? (method === "GET" ? undefined : `http://127.0.0.1:${port}`) : options.origin;
    if (origin) headers.origin = origin;
    if (options.body !== undefined) headers["content-type"] = options.type ?? "application/json";
    return fetch(`http://127.0.0.1:${port}${pathname}`, {
      method,
      headers,
      redirect: "manual",
      ...(options.body !== undefined && { body: options.body }),
    });
  };

  return {
    ...fleet,
    dashboard,
    url: `http://127.0.0.1:${port}`,
    origin,
    env,
    pg,
    request,
    async login(user) {
      const res = await request("POST", "/login", {
        body: new URLSearchParams({ name: user.name, password: user.password }).toString(),
        type: "application/x-www-form-urlencoded",
      });
      const cookie = res.headers.get("set-cookie");
      if (res.status !== 303 || !cookie) throw new Error(`login as ${user.name} failed: ${res.status} ${await res.text()}`);
      return cookie.split(";")[0]!;
    },
    async seedAwaitingDecision() {
      const contact = await createContact(fleet.db);
      const appt = await createAppointment(fleet.db, contact.id, { inMinutes: 90 });
      const delivery = await new DeliveryLedger(fleet.db).create({
        idempotencyKey: `reminder.appt-${appt.id}.dashboard-test`,
        kind: "reminder",
        source: { type: "appointment", id: appt.id, at: appt.startsAt },
        contactId: contact.id,
        step: 2,
        channel: "sms",
        recipient: contact.phone!,
        body: `Reminder: your appointment ${appt.id}`,
        deadline: appt.startsAt,
      });
      // As the reconciler leaves a send it could not attribute (see ClaimLedger.awaitOperator): claimed once,
      // outcome unknown, flagged for a person.
      await pg.query(
        `UPDATE deliveries SET state = 'unknown', fencing_token = 1, first_claimed_at = nudge_now() - interval '5 minutes',
           awaiting_operator_since = nudge_now(), updated_at = nudge_now(),
           reason = '2 call(s) to this number in the window that no delivery owns, and no status callback for this one: cannot tell which'
         WHERE id = $1`,
        [delivery.id],
      );
      return { deliveryId: delivery.id, phone: contact.phone! };
    },
    async close() {
      await dashboard.kill("SIGTERM");
      await pg.end();
      await fleet.close();
    },
  };
}

/** Every row count and the latest change of the tables a dashboard request could write, for "nothing was written". */
export async function databaseSnapshot(pg: Client): Promise<Record<string, string>> {
  const { rows } = await pg.query<Record<string, string>>(
    `SELECT (SELECT count(*) FROM dashboard_sessions)::text AS sessions,
            (SELECT count(*) FROM dashboard_users)::text AS users,
            (SELECT count(*) FROM operator_audit_log)::text AS audit,
            (SELECT count(*) || ' ' || COALESCE(max(updated_at)::text, '') || ' ' || COALESCE(string_agg(id || state::text || resends, ',' ORDER BY id), '') FROM deliveries) AS deliveries,
            (SELECT count(*) FROM suppressions)::text AS suppressions`,
  );
  return rows[0]!;
}

/**
 * Every key under the prefix with its full content, for "nothing changed in Redis". Keys with an expiry are left out:
 * they change on their own (a stopped worker's stalled-check marker expires).
 */
export async function redisSnapshot(redis: import("ioredis").Redis, prefix: string): Promise<Record<string, unknown>> {
  const all = (await redis.keys(`${prefix}:*`)).sort();
  const ttls = await Promise.all(all.map((key) => redis.pttl(key)));
  const keys = all.filter((_, i) => ttls[i] === -1);
  const entries = await Promise.all(
    keys.map(async (key): Promise<[string, unknown]> => {
      const type = await redis.type(key);
      switch (type) {
        case "string":
          return [key, await redis.get(key)];
        case "hash":
          return [key, await redis.hgetall(key)];
        case "list":
          return [key, await redis.lrange(key, 0, -1)];
        case "set":
          return [key, (await redis.smembers(key)).sort()];
        case "zset":
          return [key, await redis.zrange(key, 0, -1, "WITHSCORES")];
        case "stream":
          return [key, await redis.xlen(key)];
        default:
          return [key, type];
      }
    }),
  );
  return Object.fromEntries(entries);
}
