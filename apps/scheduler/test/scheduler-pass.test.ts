import { DEFAULT_REMINDER_PLAN, reminderKey } from "@nudge/core";
import { createDb, type Db } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { createRedis, createReminderQueue, type Redis } from "@nudge/queue";
import {
  TEST_REDIS_URL,
  advanceDatabaseClock,
  createAppointment,
  createContact,
  createTestDatabase,
  deletePrefix,
  setDatabaseClock,
  testQueuePrefix,
  type TestDatabase,
} from "@nudge/testing";
import type { Queue } from "bullmq";
import { runPass, type PassDeps } from "../src/scheduler-pass";

let database: TestDatabase;
let db: Db;
let redis: Redis;
let queue: Queue;
let prefix: string;
// The database's clock, which the pass judges due times by, is moved to this instant for each test.
const now = new Date("2026-11-24T08:00:00Z");

beforeEach(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  await setDatabaseClock(db, now);
  prefix = testQueuePrefix();
  redis = createRedis(TEST_REDIS_URL);
  queue = createReminderQueue(redis, prefix);
});
afterEach(async () => {
  await queue.close();
  redis.disconnect();
  await deletePrefix(prefix);
  await db.$disconnect();
  await database.drop();
});

const deps = (): PassDeps => ({ db, queue, redis, plan: DEFAULT_REMINDER_PLAN, logger: createLogger("test", "silent"), batchSize: 7, fullSweepMs: 24 * 3600_000 });

/** A delivery the ledger has already settled as sent, for the given appointment and plan step. */
async function sentDelivery(
  contact: { id: number; phone: string | null },
  appt: { id: number; startsAt: Date },
  step: number,
  channel: "sms" | "voice",
) {
  await db.delivery.create({
    data: {
      idempotencyKey: reminderKey({ appointmentId: appt.id, startsAt: appt.startsAt, step }),
      kind: "reminder",
      sourceType: "appointment",
      sourceId: appt.id,
      contactId: contact.id,
      appointmentId: appt.id,
      appointmentStartsAt: appt.startsAt,
      step,
      channel,
      recipient: contact.phone!,
      body: "x",
      state: "sent",
      deadline: appt.startsAt,
    },
  });
}

describe("scheduler pass", () => {
  it("enqueues the latest due step of each appointment under its deterministic key", async () => {
    const c = await createContact(db);
    const voice = await createAppointment(db, c.id, { now, inMinutes: 20 });
    const sms = await createAppointment(db, c.id, { now, inMinutes: 90 });
    const email = await createAppointment(db, c.id, { now, inMinutes: 600 });
    await createAppointment(db, c.id, { now, inMinutes: 25 * 60 }); // not due yet
    const cancelled = await createAppointment(db, c.id, { now, inMinutes: 20 });
    await db.appointment.update({ where: { id: cancelled.id }, data: { status: "cancelled" } });

    const result = await runPass(deps());

    expect(result).toMatchObject({ mode: "sweep", enqueued: 3 });
    const ids = (await queue.getJobs(["waiting"])).map((j) => j.id).sort();
    expect(ids).toEqual(
      [
        reminderKey({ appointmentId: voice.id, startsAt: voice.startsAt, step: 3 }),
        reminderKey({ appointmentId: sms.id, startsAt: sms.startsAt, step: 2 }),
        reminderKey({ appointmentId: email.id, startsAt: email.startsAt, step: 1 }),
      ].sort(),
    );
  });

  it("144 passes with no worker running leave exactly one job per reminder", async () => {
    for (let i = 0; i < 20; i++) {
      const c = await createContact(db);
      await createAppointment(db, c.id, { now, inMinutes: 10 + i * 7 });
    }
    for (let pass = 0; pass < 144; pass++) await runPass(deps());
    expect(await queue.getJobCountByTypes("waiting", "delayed", "active", "completed", "failed")).toBe(20);
  });

  it("does not enqueue reminders whose delivery is settled", async () => {
    const c = await createContact(db);
    const a = await createAppointment(db, c.id, { now, inMinutes: 20 });
    await sentDelivery(c, a, 3, "voice");
    expect((await runPass(deps())).enqueued).toBe(0);
    expect(await queue.count()).toBe(0);
  });

  it("a pass over an unchanged set looks at nothing: it costs what is new, not what exists", async () => {
    for (let i = 0; i < 30; i++) {
      const c = await createContact(db);
      await createAppointment(db, c.id, { now, inMinutes: 10 + i * 60 });
    }
    const first = await runPass(deps());
    expect(first).toMatchObject({ mode: "sweep", looked: 30 });
    const second = await runPass(deps());
    expect(second).toMatchObject({ mode: "incremental", looked: 0, enqueued: 0 });
    const c = await createContact(db);
    await createAppointment(db, c.id, { now, inMinutes: 15 });
    expect(await runPass(deps())).toMatchObject({ mode: "incremental", looked: 1, enqueued: 1 });
  });

  it("escalates: when a later step becomes due, that appointment alone is looked at again", async () => {
    const c = await createContact(db);
    const a = await createAppointment(db, c.id, { now, inMinutes: 180 }); // email due (24 h lead), SMS at -120 min
    await createAppointment(db, c.id, { now, inMinutes: 23 * 60 }); // email due; next step much later
    expect(await runPass(deps())).toMatchObject({ looked: 2, enqueued: 2 });
    await advanceDatabaseClock(db, 59 * 60_000);
    expect(await runPass(deps())).toMatchObject({ mode: "incremental", looked: 0 });
    await advanceDatabaseClock(db, 60_000); // 120 minutes before `a`: its SMS step is due
    expect(await runPass(deps())).toMatchObject({ mode: "incremental", looked: 1, enqueued: 1 });
    expect(await queue.getJob(reminderKey({ appointmentId: a.id, startsAt: a.startsAt, step: 2 }))).toBeDefined();
  });

  it("a rescheduled appointment is new work: the database resets its bookmark", async () => {
    const c = await createContact(db);
    const a = await createAppointment(db, c.id, { now, inMinutes: 90 });
    await runPass(deps());
    const moved = new Date(a.startsAt.getTime() + 30 * 60_000);
    await db.appointment.update({ where: { id: a.id }, data: { startsAt: moved } });
    expect(await runPass(deps())).toMatchObject({ mode: "incremental", looked: 1, enqueued: 1 });
    expect(await queue.getJob(reminderKey({ appointmentId: a.id, startsAt: moved, step: 2 }))).toBeDefined();
  });

  it("when Redis lost its data, the next pass sweeps: unsettled due reminders come back, settled ones do not", async () => {
    const c = await createContact(db);
    const pending = await createAppointment(db, c.id, { now, inMinutes: 90 });
    const done = await createAppointment(db, c.id, { now, inMinutes: 90 });
    await runPass(deps());
    await sentDelivery(c, done, 2, "sms");
    await deletePrefix(prefix);
    expect(await runPass(deps())).toMatchObject({ mode: "sweep", enqueued: 1 });
    expect((await queue.getJobs(["waiting"])).map((j) => j.id)).toEqual([
      reminderKey({ appointmentId: pending.id, startsAt: pending.startsAt, step: 2 }),
    ]);
  });

  it("a sweep cut short half-way is resumed by the next pass, not begun again; a loss of Redis since begins a new one", async () => {
    for (let i = 0; i < 20; i++) {
      const c = await createContact(db);
      await createAppointment(db, c.id, { now, inMinutes: 10 + i * 7 });
    }
    // The second page's enqueue fails, as when a server restarts half-way: the first page (7 of 20) is done.
    let calls = 0;
    const failing = Object.create(queue) as Queue;
    failing.addBulk = (jobs) => (++calls === 2 ? Promise.reject(new Error("connection lost")) : queue.addBulk(jobs));
    await expect(runPass({ ...deps(), queue: failing })).rejects.toThrow("connection lost");
    expect(await queue.count()).toBe(7);

    expect(await runPass(deps())).toMatchObject({ mode: "resumed-sweep", looked: 13, enqueued: 13 });
    expect(await queue.count()).toBe(20);
    expect(await runPass(deps())).toMatchObject({ mode: "incremental", looked: 0 });

    await deletePrefix(prefix); // Redis loses the jobs, and the sweep's bookkeeping with them
    expect(await runPass(deps())).toMatchObject({ mode: "sweep", looked: 20, enqueued: 20 });
  });

  it("a reminder whose job was lost after its appointment started is recorded as skipped, not lost without a trace", async () => {
    const c = await createContact(db);
    const a = await createAppointment(db, c.id, { now, inMinutes: 90 });
    expect(await runPass(deps())).toMatchObject({ enqueued: 1 });
    await deletePrefix(prefix); // the job vanishes with Redis
    await setDatabaseClock(db, new Date(a.startsAt.getTime() + 10 * 60_000)); // and nobody looked until after the start
    expect(await runPass(deps())).toMatchObject({ mode: "sweep", abandoned: { neverCreated: 1 } });
    const delivery = await db.delivery.findFirstOrThrow({ where: { appointmentId: a.id } });
    expect(delivery).toMatchObject({ step: 2, state: "skipped", reason: expect.stringMatching(/its job was lost/) });
    expect(await runPass(deps())).toMatchObject({ abandoned: { neverCreated: 0 } });
  });
});
