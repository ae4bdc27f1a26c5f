import { createDb, type Db, sqlPool } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { createQueue, createRedis, type Redis } from "@nudge/queue";
import { TEST_REDIS_URL, advanceDatabaseClock, createOneOffMessage, createTestDatabase, deletePrefix, setDatabaseClock, testQueuePrefix, type TestDatabase } from "@nudge/testing";
import type { Queue } from "bullmq";
import { runOneOffPass, type OneOffPassDeps } from "../src/one-off-pass";

/** The scheduler's one-off pass: what a writer that died left to it, against real Postgres and Redis. */
let database: TestDatabase;
let db: Db;
let redis: Redis;
let queue: Queue;
let prefix: string;

beforeEach(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  await setDatabaseClock(db, new Date("2026-11-24T08:00:00Z"));
  prefix = testQueuePrefix();
  redis = createRedis(TEST_REDIS_URL);
  queue = createQueue("one-off", redis, prefix);
});
afterEach(async () => {
  await queue.close();
  redis.disconnect();
  await deletePrefix(prefix);
  await db.$disconnect();
  await database.drop();
});

const deps = (): OneOffPassDeps => ({ db, queue, redis, logger: createLogger("test", "silent"), batchSize: 10, fullSweepMs: 24 * 3600_000, handoffStaleMs: 60_000 });

/** A writer's handoff of `ids`, written `ageMs` ago by the database's clock. */
async function handoff(ids: number[], ageMs: number): Promise<void> {
  await sqlPool(db).query(`INSERT INTO one_off_handoffs (message_ids, created_at) VALUES ($1::int[], nudge_now() - $2 * interval '1 millisecond')`, [ids, ageMs]);
}

const jobIds = async () => (await queue.getJobs(["waiting", "delayed"])).map((job) => job.data.messageId as number).sort((a, b) => a - b);
const handoffsLeft = async () => (await sqlPool(db).query<{ ids: number[] }>(`SELECT message_ids AS ids FROM one_off_handoffs ORDER BY id`)).rows.map((r) => r.ids);

it("takes over a handoff once it is stale (its jobs added, the handoff deleted) and leaves a younger one to its writer", async () => {
  // The first pass is a full sweep (no marker in Redis yet): out of the way before the messages exist.
  expect(await runOneOffPass(deps())).toMatchObject({ mode: "sweep", enqueued: 0 });
  // Written with their bookmark set, as the relay writes them, each batch with its handoff.
  const stale = [await createOneOffMessage(db, { enqueued: true }), await createOneOffMessage(db, { enqueued: true })];
  const young = await createOneOffMessage(db, { enqueued: true });
  await handoff(stale, 120_000);
  await handoff([young], 1_000);
  // A message whose bookmark a sweep reset, without a handoff.
  const reset = await createOneOffMessage(db, { enqueued: false });

  expect((await runOneOffPass(deps())).enqueued).toBe(3);
  expect(await jobIds()).toEqual([...stale, reset]);
  expect(await handoffsLeft()).toEqual([[young]]);

  // The young handoff's writer never came back: a minute later by the database's clock, the pass takes it over.
  await advanceDatabaseClock(db, 60_000);
  expect((await runOneOffPass(deps())).enqueued).toBe(1);
  expect(await jobIds()).toEqual([...stale, young, reset]);
  expect(await handoffsLeft()).toEqual([]);
  expect((await runOneOffPass(deps())).enqueued).toBe(0);
});
