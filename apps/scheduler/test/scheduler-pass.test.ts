import { DEFAULT_REMINDER_PLAN, fixedClock, reminderKey } from "@nudge/core";
import { createDb, type Db } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { createRedis, createReminderQueue, type Redis } from "@nudge/queue";
import {
  TEST_REDIS_URL,
  createAppointment,
  createContact,
  createTestDatabase,
  deletePrefix,
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
const now = new Date("2026-11-24T08:00:00Z");

beforeEach(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
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

const deps = (): PassDeps => ({ db, queue, plan: DEFAULT_REMINDER_PLAN, clock: fixedClock(now), logger: createLogger("test", "silent"), batchSize: 7 });

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

    expect(result.due).toBe(3);
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
    await db.delivery.create({
      data: {
        idempotencyKey: reminderKey({ appointmentId: a.id, startsAt: a.startsAt, step: 3 }),
        contactId: c.id,
        appointmentId: a.id,
        appointmentStartsAt: a.startsAt,
        step: 3,
        channel: "voice",
        recipient: c.phone!,
        body: "x",
        state: "sent",
        deadline: a.startsAt,
      },
    });
    expect((await runPass(deps())).due).toBe(0);
    expect(await queue.count()).toBe(0);
  });
});
