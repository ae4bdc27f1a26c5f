/**
 * Scheduler passes in a process of their own, so that the bench can read this process's memory from /proc while it
 * runs. Started by sections/scheduler-passes.ts; speaks one JSON object per stdout line:
 *   {"event":"pass-start","pass":1}  {"event":"pass-end","pass":1,"seconds":…,"result":{…}}  …  {"event":"done"}
 * After "done" it waits for its stdin to close, so the parent can read the final peak (VmHWM) of a live process.
 */
import { createDb } from "@nudge/db";
import { createRedis, createReminderQueue } from "@nudge/queue";
import { runPass } from "@nudge/scheduler";
import { passDeps } from "./pass-deps";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`scheduler-child: ${name} is required (it is started by bench/src/sections/scheduler-passes.ts)`);
  return value;
}

function emit(event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event) + "\n");
}

async function main(): Promise<void> {
  const passes = Number(process.env.PASSES ?? "2");
  const batchSize = Number(process.env.BATCH_SIZE ?? "1000");
  const db = createDb(required("DATABASE_URL"), { poolSize: 2 });
  const redis = createRedis(required("REDIS_URL"));
  const queue = createReminderQueue(redis, required("QUEUE_PREFIX"));
  for (let pass = 1; pass <= passes; pass++) {
    emit({ event: "pass-start", pass });
    const started = performance.now();
    const result = await runPass(passDeps({ db, queue, redis, batchSize }));
    emit({ event: "pass-end", pass, seconds: (performance.now() - started) / 1000, result });
  }
  await queue.close();
  await redis.quit();
  await db.$disconnect();
  emit({ event: "done" });
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
}

main().catch((error: unknown) => {
  console.error(`scheduler-child: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
