import { DEFAULT_REMINDER_PLAN, reminderKey } from "@nudge/core";
import { createLogger } from "@nudge/logger";
import { createRedis, JOBS, jobOptions, type Redis } from "@nudge/queue";
import { runPass } from "@nudge/scheduler";
import { eventually, type AppProcess } from "@nudge/testing";
import { OPERATOR, startDashboardFleet, type DashboardFleet } from "./dashboard-fixture";

/**
 * Acceptance 4: every action Bull Board gives an operator (retry of completed jobs, promote, clean, empty, obliterate,
 * update data, add job), performed through its HTTP API on the operator's board, on a reminders queue with completed,
 * failed, waiting and delayed reminder jobs. Then the worker runs, and the scheduler's sweep (every SCHEDULER_SWEEP_MS
 * in production) re-derives what an action took out of Redis. Judged by the simulator's record, not Nudge's ledger:
 * no recipient gets a second message, and every due message goes out once.
 *
 * One worker process runs throughout; the queue is paused while a case is set up and acted on (as an operator would
 * find it mid-backlog), so that the waiting and delayed jobs are still there when the action lands.
 */
jest.setTimeout(240_000);

let f: DashboardFleet;
let redis: Redis;
let worker: AppProcess;
let cookie: string;

beforeAll(async () => {
  f = await startDashboardFleet();
  redis = createRedis(f.redisUrl);
  worker = await f.startWorker();
  cookie = await f.login(OPERATOR);
});
afterAll(async () => {
  redis?.disconnect();
  await f?.close();
});

interface Case {
  /** Sent before the action: their jobs are completed. */
  completed: string[];
  /** Due, their jobs waiting (the queue paused). */
  waiting: { phone: string; key: string; payload: Record<string, unknown> }[];
  /** Due, its job delayed (as a retry's backoff leaves it). */
  delayed: { phone: string; key: string };
  failedId: string;
  completedPayloads: Record<string, unknown>[];
}

const sends = (phone: string) => f.sim.records({ to: phone }).filter((r) => r.provider === "twilio-sms").length;
const payloadOf = (appointmentId: number, startsAt: Date) => {
  const key = reminderKey({ appointmentId, startsAt, step: 2 });
  return { key, appointmentId, startsAt: startsAt.toISOString(), step: 2 };
};

async function drained(): Promise<boolean> {
  const c = await f.queue.getJobCounts("waiting", "active", "delayed", "prioritized");
  return Object.values(c).every((n) => n === 0);
}

/** Completed (two reminders sent), failed (a payload the worker refuses, kept), waiting (two) and delayed (one) jobs. */
async function prepare(delayMs = 2_000): Promise<Case> {
  await f.queue.resume();
  const sent = await f.seedSmsReminders(2);
  await f.pass();
  const failedId = `not-a-reminder-${Date.now()}`;
  await f.queue.add(JOBS.reminder.name, { key: failedId }, { jobId: failedId, attempts: 1, removeOnFail: false });
  await eventually("two reminders sent and a bad job failed", async () => {
    const failed = (await f.queue.getJob(failedId))?.failedReason;
    return sent.every((s) => sends(s.phone) === 1) && failed && (await drained()) ? true : undefined;
  });
  await f.queue.pause();
  const waiting = await f.seedSmsReminders(2);
  const [delayed] = await f.seedSmsReminders(1);
  const appts = await f.db.appointment.findMany({ where: { id: { in: [...waiting, delayed!, ...sent].map((s) => s.appointmentId) } } });
  const startOf = (id: number) => appts.find((a) => a.id === id)!.startsAt;
  const delayedPayload = payloadOf(delayed!.appointmentId, startOf(delayed!.appointmentId));
  // Enqueued before the pass, so the pass finds its job there (delayed) and adds nothing for it.
  await f.queue.add(JOBS.reminder.name, delayedPayload, { ...jobOptions("reminder", delayedPayload.key), delay: delayMs });
  await f.pass();
  const c: Case = {
    completed: sent.map((s) => s.phone),
    waiting: waiting.map((w) => {
      const payload = payloadOf(w.appointmentId, startOf(w.appointmentId));
      return { phone: w.phone, key: payload.key, payload };
    }),
    delayed: { phone: delayed!.phone, key: delayedPayload.key },
    failedId,
    completedPayloads: sent.map((s) => payloadOf(s.appointmentId, startOf(s.appointmentId))),
  };
  // (A paused queue's jobs count as waiting in BullMQ 6.)
  expect(await f.queue.getJobCounts("completed", "failed", "delayed", "waiting")).toEqual({
    completed: expect.any(Number),
    failed: expect.any(Number),
    delayed: 1,
    waiting: 2,
  });
  return c;
}

/** Resume, let the worker drain the queue, run a sweep (what SCHEDULER_SWEEP_MS does), drain again, then judge. */
async function recoverAndJudge(c: Case): Promise<void> {
  await f.queue.resume();
  await eventually("the queue drained", async () => ((await drained()) ? true : undefined), 30_000);
  const sweep = await runPass({ db: f.db, queue: f.queue, redis, plan: DEFAULT_REMINDER_PLAN, logger: createLogger("test-scheduler", "silent"), batchSize: 500, backoffMs: 200, fullSweepMs: 1 });
  expect(sweep.mode).toBe("sweep");
  const due = [...c.completed, ...c.waiting.map((w) => w.phone), c.delayed.phone];
  await eventually("every due message accepted and the queue drained", async () => (due.every((p) => sends(p) >= 1) && (await drained()) ? true : undefined), 30_000);
  expect(Object.fromEntries(due.map((p) => [p, sends(p)]))).toEqual(Object.fromEntries(due.map((p) => [p, 1])));
  // Nothing anywhere went out twice, earlier cases' recipients included.
  const perRecipient = new Map<string, number>();
  for (const r of f.sim.records()) if (r.provider === "twilio-sms") perRecipient.set(r.to, (perRecipient.get(r.to) ?? 0) + 1);
  expect([...perRecipient].filter(([, n]) => n > 1)).toEqual([]);
}

const act = async (method: string, path: string, json: unknown = {}) => {
  const res = await f.request(method, `/board/ops/api/queues/reminders${path}`, { cookie, body: JSON.stringify(json), type: "application/json" });
  return { status: res.status, body: await res.text() };
};
/** A 2xx, or the status and body it answered instead. */
const ok = (r: { status: number; body: string }) => expect(r.status < 300 ? "2xx" : `${r.status} ${r.body}`).toBe("2xx");

test("retry of completed jobs: each runs again, the ledger has them settled, nothing is sent twice", async () => {
  const c = await prepare();
  const r = await act("PUT", "/retry/completed");
  ok(r);
  expect((JSON.parse(r.body) as { retried: number }).retried).toBeGreaterThanOrEqual(2);
  expect(await (await f.queue.getJob(c.completedPayloads[0]!.key as string))!.getState()).not.toBe("completed");
  await recoverAndJudge(c);
});

test("promote: the delayed reminder (a retry in backoff for another ten minutes) runs at once, once", async () => {
  const c = await prepare(600_000);
  expect(await (await f.queue.getJob(c.delayed.key))!.getState()).toBe("delayed");
  ok(await act("PUT", "/promote"));
  expect(await (await f.queue.getJob(c.delayed.key))!.getState()).not.toBe("delayed");
  await recoverAndJudge(c);
});

test("clean (waiting, delayed, completed, failed): the sweep re-derives what was due, nothing goes twice", async () => {
  const c = await prepare();
  // Bull Board cleans only jobs older than its 5 s grace: wait until these are.
  const newest = Math.max(...(await f.queue.getJobs(["waiting", "delayed", "completed", "failed"])).map((j) => Math.max(j.timestamp, j.finishedOn ?? 0)));
  await eventually("the jobs older than Bull Board's clean grace", async () => (Date.now() - newest > 5_500 ? true : undefined), 15_000);
  for (const status of ["waiting", "delayed", "completed", "failed"]) ok(await act("PUT", `/clean/${status}`));
  expect(await f.queue.getJob(c.waiting[0]!.key)).toBeUndefined();
  expect(await f.queue.getJob(c.delayed.key)).toBeUndefined();
  await recoverAndJudge(c);
});

test("empty: the waiting jobs gone (Bull Board's empty keeps delayed ones); the sweep re-derives them, each sent once", async () => {
  const c = await prepare();
  ok(await act("PUT", "/empty"));
  for (const w of c.waiting) expect(await f.queue.getJob(w.key)).toBeUndefined();
  await recoverAndJudge(c);
});

test("obliterate: every job gone; the next timed sweep re-derives the due ones, each sent once", async () => {
  const c = await prepare();
  ok(await act("PUT", "/obliterate"));
  for (const key of [...c.waiting.map((w) => w.key), c.delayed.key, c.completedPayloads[0]!.key as string, c.failedId]) expect(await f.queue.getJob(key)).toBeUndefined();
  await recoverAndJudge(c);
});

test("update data: re-pointing a job at another message is refused; a same-key edit the worker refuses fails the job, and the sweep brings the message back", async () => {
  const c = await prepare();
  const [first, second] = c.waiting;
  const before = await f.queue.getJob(first!.key);
  const repointed = await act("PATCH", `/${encodeURIComponent(first!.key)}/update-data`, { jobData: c.completedPayloads[0] });
  expect(repointed.status).toBe(400);
  expect(repointed.body).toContain("cannot change");
  expect((await f.queue.getJob(first!.key))!.data).toEqual(before!.data);
  // Same key, another start: the worker's key check refuses it (the job fails and, with Nudge's options, is removed).
  ok(await act("PATCH", `/${encodeURIComponent(first!.key)}/update-data`, { jobData: { ...first!.payload, startsAt: new Date(0).toISOString() } }));
  // An edit that changes nothing that matters.
  ok(await act("PATCH", `/${encodeURIComponent(second!.key)}/update-data`, { jobData: { ...second!.payload } }));
  await recoverAndJudge(c);
});

test("add job: a job for a message already sent sends nothing, one for a due message sends it once, a bad payload is refused", async () => {
  const c = await prepare();
  const bad = await act("POST", "/add", { name: JOBS.reminder.name, data: { key: "x" }, options: {} });
  expect(bad.status).toBe(400);
  ok(await act("POST", "/add", { name: JOBS.reminder.name, data: c.completedPayloads[0], options: {} }));
  ok(await act("POST", "/add", { name: JOBS.reminder.name, data: c.waiting[0]!.payload, options: {} }));
  ok(await act("POST", "/add", { name: JOBS.reminder.name, data: c.waiting[0]!.payload, options: {} }));
  expect(await f.queue.getJobCounts("waiting")).toEqual({ waiting: 5 });
  await recoverAndJudge(c);
});
