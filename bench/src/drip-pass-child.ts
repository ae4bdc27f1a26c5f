/**
 * Daily drip passes in a process of their own, one process per size, so that each pass's memory is its own (see
 * own-memory.ts for how it is measured). Started by sections/drip-pass.ts through runChildPasses; prints
 *   {"event":"ready"}  {"event":"pass-start","pass":1}  {"event":"pass-end","pass":1,"seconds":…,"result":{…},"memory":{…}}  …  {"event":"done"}
 */
import { createDb, databaseNow } from "@nudge/db";
import { createQueue, createRedis } from "@nudge/queue";
import { runDripPass } from "@nudge/scheduler";
import { doneWhenReleased, emit, exitOnFailure, requiredEnv } from "./child-protocol";
import { measureOwnMemory } from "./own-memory";
import { dripPassDeps } from "./pass-deps";

const STARTED_BY = "bench/src/sections/drip-pass.ts";

exitOnFailure("drip-pass-child", async () => {
  const passes = Number(process.env.PASSES ?? "2");
  const batchSize = Number(requiredEnv("BATCH_SIZE", STARTED_BY));
  // Four connections, as the scheduler app opens (run-scheduler.ts); the pass uses two at a time (the mark of one
  // page overlaps the read of the next).
  const db = createDb(requiredEnv("DATABASE_URL", STARTED_BY), { poolSize: 4 });
  const redis = createRedis(requiredEnv("REDIS_URL", STARTED_BY));
  const queue = createQueue("drip", redis, requiredEnv("QUEUE_PREFIX", STARTED_BY));
  // Warm-up, outside every measurement: connections open, the queue ready.
  await Promise.all([databaseNow(db), databaseNow(db), redis.ping(), queue.waitUntilReady()]);
  emit({ event: "ready" });
  for (let pass = 1; pass <= passes; pass++) {
    const { value, memory } = await measureOwnMemory(async () => {
      emit({ event: "pass-start", pass });
      const started = performance.now();
      const result = await runDripPass(dripPassDeps({ db, queue, redis, batchSize }));
      return { seconds: (performance.now() - started) / 1000, result };
    });
    emit({ event: "pass-end", pass, ...value, memory });
  }
  await queue.close();
  await redis.quit();
  await db.$disconnect();
  doneWhenReleased();
});
