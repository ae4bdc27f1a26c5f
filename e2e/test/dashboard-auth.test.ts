import { randomBytes } from "node:crypto";
import { advanceDatabaseClock, createTestDatabase, freePort, startApp } from "@nudge/testing";
import IORedis from "ioredis";
import { addUser, databaseSnapshot, OPERATOR, redisSnapshot as redisContent, startDashboardFleet, VIEWER, type DashboardFleet } from "./dashboard-fixture";

/**
 * Acceptance 3: every dashboard route, asked without a session, with a forged one, with one that expired by the
 * database's clock, and (for writes) from a foreign or missing Origin, is refused (a redirect to the login page for a
 * GET page, 401 or 403 otherwise), and nothing is written to Postgres or Redis.
 */
jest.setTimeout(120_000);

const TTL_MS = 60_000;
let f: DashboardFleet;
let redis: IORedis;
let deliveryId: number;

beforeAll(async () => {
  f = await startDashboardFleet({ DASHBOARD_SESSION_TTL_MS: String(TTL_MS) });
  redis = new IORedis(f.redisUrl);
  ({ deliveryId } = await f.seedAwaitingDecision());
  // Something in the queue for a write to change, were one let through.
  await f.seedSmsReminders(2);
  await f.pass();
  jobId = (await f.queue.getJobs(["waiting"]))[0]!.id!;
});

afterAll(async () => {
  redis?.disconnect();
  await f?.close();
});

/** Every page and every write the dashboard has, Bull Board's (both boards) included. */
const BOARDS = ["/board/view", "/board/ops"];
const PAGES = [
  "/",
  "/ledger",
  "/ledger?recipient=%2B1555&state=unknown",
  "/timeline?address=%2B15550100001",
  "/decisions",
  "/audit",
  "/board",
  ...BOARDS,
  ...BOARDS.map((b) => `${b}/queue/reminders`),
  "/no-such-page",
];
/** Bull Board's API and assets: no redirect for these, a 401. */
const API_GETS = BOARDS.flatMap((b) => [`${b}/api/queues`, `${b}/api/queues/reminders/metrics`, `${b}/api/redis/stats`, `${b}/static/index.html`]);
let jobId = "";
const writes = () => [
  { method: "POST", path: "/logout" },
  { method: "POST", path: `/decisions/${deliveryId}/mark-sent`, body: "providerMessageId=CA123" },
  { method: "POST", path: `/decisions/${deliveryId}/release`, body: "" },
  { method: "DELETE", path: "/ledger" },
  { method: "PUT", path: "/board" },
  ...BOARDS.flatMap((b) => [
    { method: "PUT", path: `${b}/api/queues/reminders/retry/completed` },
    { method: "PUT", path: `${b}/api/queues/reminders/retry/failed` },
    { method: "PUT", path: `${b}/api/queues/reminders/promote` },
    { method: "PUT", path: `${b}/api/queues/reminders/clean/waiting` },
    { method: "PUT", path: `${b}/api/queues/reminders/empty` },
    { method: "PUT", path: `${b}/api/queues/reminders/obliterate` },
    { method: "PUT", path: `${b}/api/queues/reminders/pause` },
    { method: "PUT", path: `${b}/api/queues/pause` },
    { method: "PUT", path: `${b}/api/queues/reminders/${jobId}/clean` },
    { method: "PUT", path: `${b}/api/queues/reminders/${jobId}/retry` },
    { method: "PATCH", path: `${b}/api/queues/reminders/${jobId}/update-data`, json: { jobData: { key: jobId } } },
    { method: "POST", path: `${b}/api/queues/reminders/add`, json: { name: "send-reminder", data: {}, options: {} } },
  ]),
];

async function redisSnapshot(): Promise<unknown> {
  return redisContent(redis, f.prefix);
}

function bodyOf(w: { body?: string; json?: unknown }) {
  if (w.json !== undefined) return { body: JSON.stringify(w.json), type: "application/json" };
  return w.body !== undefined ? { body: w.body, type: "application/x-www-form-urlencoded" } : {};
}

async function expectRefusedEverywhere(cookie: string | undefined, what: string) {
  const before = { db: await databaseSnapshot(f.pg), redis: await redisSnapshot() };
  for (const path of PAGES) {
    const res = await f.request("GET", path, cookie ? { cookie } : {});
    expect({ what, path, status: res.status, location: res.headers.get("location") }).toEqual({
      what,
      path,
      status: 302,
      location: `/login?next=${encodeURIComponent(path)}`,
    });
  }
  for (const path of API_GETS) {
    const res = await f.request("GET", path, cookie ? { cookie } : {});
    expect({ what, path, status: res.status }).toEqual({ what, path, status: 401 });
  }
  for (const w of writes()) {
    const res = await f.request(w.method, w.path, { ...(cookie && { cookie }), ...bodyOf(w) });
    expect({ what, method: w.method, path: w.path, status: res.status }).toEqual({ what, method: w.method, path: w.path, status: 401 });
  }
  expect({ db: await databaseSnapshot(f.pg), redis: await redisSnapshot() }).toEqual(before);
}

test("a valid operator session gets the pages (the control for the refusals below)", async () => {
  const cookie = await f.login(OPERATOR);
  for (const path of [...PAGES.filter((p) => !["/", "/board", "/no-such-page"].includes(p)), ...API_GETS.filter((p) => !p.includes("/static/"))]) {
    const res = await f.request("GET", path, { cookie });
    expect({ path, status: res.status }).toEqual({ path, status: 200 });
  }
});

test("without a session: pages redirect to the login page, writes are 401, nothing is written", async () => {
  await expectRefusedEverywhere(undefined, "no session");
});

test("with a forged session id: the same", async () => {
  await expectRefusedEverywhere(`nudge_session=${randomBytes(32).toString("base64url")}`, "forged session");
  await expectRefusedEverywhere("nudge_session=", "empty session");
});

test("with a wrong password no session is made", async () => {
  const before = await databaseSnapshot(f.pg);
  const res = await f.request("POST", "/login", {
    body: new URLSearchParams({ name: OPERATOR.name, password: "not the password" }).toString(),
    type: "application/x-www-form-urlencoded",
  });
  expect(res.status).toBe(401);
  expect(res.headers.get("set-cookie")).toBeNull();
  expect(await databaseSnapshot(f.pg)).toEqual(before);
});

test("from a foreign or missing Origin, every write is 403 even with an operator's session, and nothing is written", async () => {
  const cookie = await f.login(OPERATOR);
  const before = { db: await databaseSnapshot(f.pg), redis: await redisSnapshot() };
  for (const origin of ["https://evil.example.com", "null", `http://127.0.0.1:1`, null]) {
    for (const w of writes()) {
      const res = await f.request(w.method, w.path, { cookie, origin, ...bodyOf(w) });
      expect({ origin, method: w.method, path: w.path, status: res.status }).toEqual({ origin, method: w.method, path: w.path, status: 403 });
    }
    // A login from another site (login CSRF) is refused too.
    const login = await f.request("POST", "/login", {
      origin,
      body: new URLSearchParams({ name: OPERATOR.name, password: OPERATOR.password }).toString(),
      type: "application/x-www-form-urlencoded",
    });
    expect({ origin, status: login.status, cookie: login.headers.get("set-cookie") }).toEqual({ origin, status: 403, cookie: null });
  }
  expect({ db: await databaseSnapshot(f.pg), redis: await redisSnapshot() }).toEqual(before);
  // The same session with the dashboard's own Origin is still good: the refusals were the Origin's.
  expect((await f.request("GET", "/decisions", { cookie })).status).toBe(200);
});

test("a viewer cannot decide a send: 403, nothing written", async () => {
  const cookie = await f.login(VIEWER);
  const before = await databaseSnapshot(f.pg);
  for (const action of ["mark-sent", "release"]) {
    const res = await f.request("POST", `/decisions/${deliveryId}/${action}`, { cookie, body: "", type: "application/x-www-form-urlencoded" });
    expect({ action, status: res.status }).toEqual({ action, status: 403 });
  }
  expect(await databaseSnapshot(f.pg)).toEqual(before);
  const page = await (await f.request("GET", "/decisions", { cookie })).text();
  expect(page).toContain(`delivery-${deliveryId}`);
  expect(page).not.toContain("Release for one resend");
});

test("nudge users add refuses a bad role and a short password; the dashboard refuses to start with no user", async () => {
  const database = await createTestDatabase();
  try {
    const env = { ...f.env, DATABASE_URL: database.url, DASHBOARD_PORT: String(await freePort()) };
    const dashboard = startApp("apps/dashboard/src/main.ts", env);
    const [badRole, short] = await Promise.all([addUser(env, "someone", "admin", "long enough password"), addUser(env, "someone", "viewer", "short")]);
    expect({ code: badRole.code, output: badRole.output.trim() }).toEqual({ code: 1, output: 'nudge users: --role: expected viewer or operator, got "admin"' });
    expect({ code: short.code, output: short.output.trim() }).toEqual({ code: 1, output: "nudge users: the password must have at least 12 characters" });
    expect(await dashboard.exited).toBe(1);
    expect(dashboard.output.join("\n")).toContain("no dashboard user: add one with `nudge users add <name> --role operator`");
    // With a user it starts.
    expect((await addUser(env, "someone", "viewer", "long enough password")).code).toBe(0);
    const started = startApp("apps/dashboard/src/main.ts", env);
    await started.waitForLine(/"msg":"dashboard listening"/);
    await started.kill("SIGTERM");
  } finally {
    await database.drop();
  }
});

test("a session that expired by the database's clock is refused like none (last: it moves the clock)", async () => {
  const cookie = await f.login(OPERATOR);
  expect((await f.request("GET", "/ledger", { cookie })).status).toBe(200);
  await advanceDatabaseClock(f.db, TTL_MS + 1_000);
  try {
    await expectRefusedEverywhere(cookie, "expired session");
  } finally {
    await advanceDatabaseClock(f.db, -(TTL_MS + 1_000));
  }
});
