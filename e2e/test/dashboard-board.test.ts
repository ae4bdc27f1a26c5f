import { JOBS } from "@nudge/queue";
import { eventually, type AppProcess } from "@nudge/testing";
import IORedis from "ioredis";
import { OPERATOR, redisSnapshot, startDashboardFleet, VIEWER, type DashboardFleet } from "./dashboard-fixture";

/**
 * Acceptance 2: a viewer's retry, clean, empty and remove requests sent straight to Bull Board's HTTP API (the
 * viewer's read-only board and the operator's board alike) are refused by the server, and nothing changes in Redis:
 * every key under the queue prefix, with its content, is the same before and after. The same request from an
 * operator does change the queue (the control: the refused requests were ones that would have acted).
 */
jest.setTimeout(120_000);

let f: DashboardFleet;
let redis: IORedis;
let worker: AppProcess | undefined;
let completedId: string;
let failedId: string;
let waitingId: string;

beforeAll(async () => {
  f = await startDashboardFleet();
  redis = new IORedis(f.redisUrl);
  // A reminders queue with completed, failed and waiting jobs: two reminders sent by a worker, a job whose payload
  // the worker refuses (kept, as a job added without Nudge's options is), then two reminders waiting.
  const sent = await f.seedSmsReminders(2);
  await f.pass();
  await f.queue.add(JOBS.reminder.name, { key: "not-a-reminder" }, { jobId: "not-a-reminder", attempts: 1, removeOnFail: false });
  worker = await f.startWorker();
  await eventually("two reminders sent, one job failed", async () => {
    const counts = await f.queue.getJobCounts("completed", "failed");
    return counts.completed === 2 && counts.failed === 1 && sent.every((s) => f.sim.records({ to: s.phone }).length === 1) ? true : undefined;
  });
  await worker.kill("SIGTERM");
  await f.seedSmsReminders(2);
  await f.pass();
  completedId = (await f.queue.getJobs(["completed"]))[0]!.id!;
  failedId = (await f.queue.getJobs(["failed"]))[0]!.id!;
  waitingId = (await f.queue.getJobs(["waiting"]))[0]!.id!;
});

afterAll(async () => {
  redis?.disconnect();
  await f?.close();
});

const writes = (board: string) => [
  ["retry all failed", "PUT", `${board}/api/queues/reminders/retry/failed`],
  ["retry all completed", "PUT", `${board}/api/queues/reminders/retry/completed`],
  ["retry a failed job", "PUT", `${board}/api/queues/reminders/${failedId}/retry?queueStatus=failed`],
  ["retry a completed job", "PUT", `${board}/api/queues/reminders/${completedId}/retry?queueStatus=completed`],
  ["clean completed", "PUT", `${board}/api/queues/reminders/clean/completed`],
  ["clean failed", "PUT", `${board}/api/queues/reminders/clean/failed`],
  ["clean waiting", "PUT", `${board}/api/queues/reminders/clean/waiting`],
  ["empty", "PUT", `${board}/api/queues/reminders/empty`],
  ["remove a waiting job", "PUT", `${board}/api/queues/reminders/${waitingId}/clean`],
  ["remove a completed job", "PUT", `${board}/api/queues/reminders/${completedId}/clean`],
] as const;

test("a viewer sees the read-only board and none of the operator's", async () => {
  const cookie = await f.login(VIEWER);
  const res = await f.request("GET", "/board/view/api/queues", { cookie });
  expect(res.status).toBe(200);
  const { queues } = (await res.json()) as { queues: { name: string; readOnlyMode: boolean; counts: Record<string, number> }[] };
  expect(queues.map((q) => [q.name, q.readOnlyMode]).sort()).toEqual([
    ["drips", true],
    ["one-off-messages", true],
    ["reminders", true],
  ]);
  expect(queues.find((q) => q.name === "reminders")!.counts).toMatchObject({ completed: 2, failed: 1, waiting: 2 });
  expect((await f.request("GET", "/board/ops/api/queues", { cookie })).status).toBe(403);
  const page = await f.request("GET", "/board", { cookie });
  expect(page.headers.get("location")).toBe("/board/view");
});

test("a viewer's retry, clean, empty and remove requests are refused on both boards and Redis is unchanged", async () => {
  const cookie = await f.login(VIEWER);
  const before = await redisSnapshot(redis, f.prefix);
  for (const board of ["/board/view", "/board/ops"]) {
    for (const [what, method, path] of writes(board)) {
      const res = await f.request(method, path, { cookie, body: "{}", type: "application/json" });
      expect({ what, path, status: res.status }).toEqual({ what, path, status: 403 });
    }
  }
  expect(await redisSnapshot(redis, f.prefix)).toEqual(before);
});

test("an operator's same request does act (the control)", async () => {
  const cookie = await f.login(OPERATOR);
  const before = await redisSnapshot(redis, f.prefix);
  const res = await f.request("PUT", `/board/ops/api/queues/reminders/${completedId}/retry?queueStatus=completed`, { cookie, body: "{}", type: "application/json" });
  expect([200, 204]).toContain(res.status);
  expect(await redisSnapshot(redis, f.prefix)).not.toEqual(before);
  expect(await (await f.queue.getJob(completedId))!.getState()).toBe("waiting");
  // And the operator's board is not read-only.
  const { queues } = (await (await f.request("GET", "/board/ops/api/queues", { cookie })).json()) as { queues: { readOnlyMode: boolean }[] };
  expect(queues.every((q) => !q.readOnlyMode)).toBe(true);
});
