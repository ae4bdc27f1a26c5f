/**
 * The drip section's baseline in a process of its own, started and measured exactly like the pass
 * (drip-pass-child.ts): plain BullMQ addBulk of COUNT jobs shaped as the pass's, in batches of BATCH_SIZE, to a queue
 * of its own. Same protocol, one "pass".
 */
import { createRedis, JOBS } from "@nudge/queue";
import { Queue } from "bullmq";
import { doneWhenReleased, emit, exitOnFailure, requiredEnv } from "./child-protocol";
import { measureOwnMemory } from "./own-memory";

const STARTED_BY = "bench/src/sections/drip-pass.ts";

exitOnFailure("addbulk-child", async () => {
  const count = Number(requiredEnv("COUNT", STARTED_BY));
  const batchSize = Number(requiredEnv("BATCH_SIZE", STARTED_BY));
  const stepId = requiredEnv("STEP_ID", STARTED_BY);
  const redis = createRedis(requiredEnv("REDIS_URL", STARTED_BY));
  const queue = new Queue(requiredEnv("QUEUE_NAME", STARTED_BY), { connection: redis, prefix: requiredEnv("QUEUE_PREFIX", STARTED_BY) });
  await Promise.all([redis.ping(), queue.waitUntilReady()]);
  emit({ event: "ready" });
  const { value, memory } = await measureOwnMemory(async () => {
    emit({ event: "pass-start", pass: 1 });
    const started = performance.now();
    // The pass's payload (key, enrollment id, step id) and job name, the key as jobId, nothing else: plain BullMQ.
    for (let from = 1; from <= count; from += batchSize) {
      const batch = [];
      for (let id = from; id < Math.min(from + batchSize, count + 1); id++) {
        const key = `drip.enr-${id}.step-${stepId}`;
        batch.push({ name: JOBS.drip.name, data: { key, enrollmentId: id, stepId }, opts: { jobId: key } });
      }
      await queue.addBulk(batch);
    }
    return { seconds: (performance.now() - started) / 1000, result: { added: count } };
  });
  emit({ event: "pass-end", pass: 1, ...value, memory });
  await queue.close();
  await redis.quit();
  doneWhenReleased();
});
