import { JOBS } from "@nudge/queue";
import { eventually, startApp } from "@nudge/testing";
import { startFleet, type Fleet } from "./fleet";

let fleet: Fleet;
beforeAll(async () => {
  fleet = await startFleet();
});
afterAll(() => fleet.close());

/**
 * Waits for a job read in its failed state. Reading the job and asking whether it failed are two round trips, so
 * the test waits for the failure reason itself, which is written when the job fails.
 */
function failedJob(id: string) {
  return eventually(`job ${id} to fail`, async () => {
    const job = await fleet.queue.getJob(id);
    return job?.failedReason ? job : undefined;
  });
}

describe("bad input", () => {
  it("a job whose payload fails its schema fails at once, naming the field, and sends nothing", async () => {
    await fleet.startWorker();
    await fleet.queue.add(
      JOBS.reminder.name,
      { key: "reminder.appt-1.at-20261124T090000Z.step-2", appointmentId: "one", startsAt: "2026-11-24T09:00:00Z", step: 2 },
      { jobId: "bad-payload", attempts: 5 },
    );
    const job = await failedJob("bad-payload");
    expect(job.failedReason).toMatch(/Invalid reminder payload: appointmentId: /);
    expect(job.attemptsMade).toBe(1);
    expect(fleet.sim.records().filter((r) => r.operation !== "group.create" && r.operation !== "property.create")).toEqual([]);
    expect(await fleet.db.delivery.count()).toBe(0);
  });

  it("a job whose key does not match its fact is rejected", async () => {
    await fleet.queue.add(
      JOBS.reminder.name,
      { key: "reminder.appt-9.at-20261124T090000Z.step-2", appointmentId: 1, startsAt: "2026-11-24T09:00:00.000Z", step: 2 },
      { jobId: "bad-key" },
    );
    const job = await failedJob("bad-key");
    expect(job.failedReason).toMatch(/key: expected reminder\.appt-1\./);
  });

  it("a missing environment variable stops the worker at start-up, naming it", async () => {
    const { TWILIO_ACCOUNT_SID: _missing, ...env } = fleet.workerEnv;
    const worker = startApp("apps/worker/src/main.ts", { ...env, WORKER_CONCURRENCY: "lots" });
    expect(await worker.exited).toBe(1);
    const output = worker.output.join("\n");
    expect(output).toMatch(/TWILIO_ACCOUNT_SID is missing/);
    expect(output).toMatch(/WORKER_CONCURRENCY is invalid: expected a whole number/);
  });

  it("a malformed variable stops the scheduler at start-up, naming it", async () => {
    const scheduler = startApp("apps/scheduler/src/main.ts", { DATABASE_URL: "mysql://nope", REDIS_URL: fleet.redisUrl }, ["--once"]);
    expect(await scheduler.exited).toBe(1);
    expect(scheduler.output.join("\n")).toMatch(/DATABASE_URL is invalid: expected a postgres: or postgresql: URL/);
  });
});
