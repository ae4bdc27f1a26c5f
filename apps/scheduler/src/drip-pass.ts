import { type DueStep, findDueSteps, findWaitingStepsInFlight, markStepsEnqueued, resetDripBookmarks } from "@nudge/campaigns";
import { dripKey } from "@nudge/core";
import { type Db, databaseNow } from "@nudge/db";
import type { Logger } from "@nudge/logger";
import { type DripPayload, enqueue, type Redis } from "@nudge/queue";
import type { Queue } from "bullmq";

export interface DripPassDeps {
  db: Db;
  /** The drip queue. */
  queue: Queue;
  /** The queue's connection: the sweep marker lives next to the jobs, so it vanishes when they do. */
  redis: Redis;
  logger: Logger;
  batchSize: number;
  backoffMs?: number;
  /** How often a pass re-enqueues every due step instead of only the new ones. Default 15 minutes. */
  fullSweepMs?: number;
}

export interface DripPassResult {
  /** `sweep`: every due step not yet taken up, and every step in flight still waiting, was enqueued again. */
  mode: "incremental" | "sweep";
  /** Steps enqueued under their key (a no-op where the job already exists). */
  enqueued: number;
  /** In a sweep: steps in flight whose delivery waits to be claimed, enqueued again in case their job was lost. */
  resumed: number;
  ms: number;
}

const DEFAULT_FULL_SWEEP_MS = 15 * 60_000;

/**
 * The daily pass of drip campaigns: enqueues the due step of every active enrollment, with the deterministic key of
 * its enrollment and step (the jobId, and the delivery's idempotency key). Paged on the due index, so that memory
 * stays flat however many enrollments are due; incremental, so that a repeated pass over unchanged enrollments
 * reads nothing: each enrollment carries a bookmark (`enqueued`) that its next advance clears.
 *
 * A sweep (the first pass, after Redis lost its data, and every `fullSweepMs`) clears the bookmarks of due steps
 * and enqueues them again, and enqueues the steps in flight whose delivery still waits to be claimed (a crash after
 * the database advance followed by a loss of the job). Any number of passes, from any number of schedulers, adds
 * nothing twice: the jobId dedupes while the job exists, and the enrollment and ledger refuse a second send after.
 */
export async function runDripPass(deps: DripPassDeps): Promise<DripPassResult> {
  const started = Date.now();
  const now = await databaseNow(deps.db);
  const markerKey = `${deps.queue.qualifiedName}:drip-swept-at`;
  const sweptAt = await deps.redis.get(markerKey);
  const sweep = sweptAt === null || now.getTime() - Number(sweptAt) >= (deps.fullSweepMs ?? DEFAULT_FULL_SWEEP_MS);

  let resumed = 0;
  if (sweep) {
    await resetDripBookmarks(deps.db, now);
    for (let afterId = 0; ; ) {
      const page = await findWaitingStepsInFlight(deps.db, afterId, deps.batchSize);
      await enqueue(deps.queue, "drip", page.map(payloadOf), deps.backoffMs);
      resumed += page.length;
      if (page.length < deps.batchSize) break;
      afterId = page[page.length - 1]!.enrollmentId;
    }
  }

  let enqueued = 0;
  let after: DueStep | undefined;
  let marking: Promise<void> = Promise.resolve();
  try {
    for (;;) {
      const page = await findDueSteps(deps.db, now, after, deps.batchSize);
      // Enqueue before marking: a crash in between makes the next pass enqueue again, which is a no-op. The mark
      // overlaps with reading and enqueueing the next page (one in flight at a time); the keyset moves on without it.
      await enqueue(deps.queue, "drip", page.map(payloadOf), deps.backoffMs);
      await marking;
      marking = markStepsEnqueued(deps.db, page);
      marking.catch(() => undefined); // handled by the next `await marking`
      enqueued += page.length;
      if (page.length < deps.batchSize) break;
      after = page[page.length - 1];
    }
  } catch (error) {
    await marking.catch(() => undefined);
    throw error;
  }
  await marking;
  if (sweep) await deps.redis.set(markerKey, String(now.getTime()));
  const result: DripPassResult = { mode: sweep ? "sweep" : "incremental", enqueued, resumed, ms: Date.now() - started };
  deps.logger.info(result, "drip pass done");
  return result;
}

function payloadOf(step: DueStep): DripPayload {
  return { key: dripKey({ enrollmentId: step.enrollmentId, stepId: step.stepId }), enrollmentId: step.enrollmentId, stepId: step.stepId };
}
