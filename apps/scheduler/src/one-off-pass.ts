import { oneOffKey } from "@nudge/core";
import { type Db, findUnenqueuedOneOffs, markOneOffsEnqueued, resetOneOffBookmarks } from "@nudge/db";
import type { Logger } from "@nudge/logger";
import { enqueue, type Redis } from "@nudge/queue";
import type { Queue } from "bullmq";

export interface OneOffPassDeps {
  db: Db;
  /** The one-off queue. */
  queue: Queue;
  redis: Redis;
  logger: Logger;
  batchSize: number;
  backoffMs?: number;
  /** How often a pass re-enqueues every unsettled one-off message. Default 15 minutes. */
  fullSweepMs?: number;
}

export interface OneOffPassResult {
  mode: "incremental" | "sweep";
  enqueued: number;
  ms: number;
}

const DEFAULT_FULL_SWEEP_MS = 15 * 60_000;

/**
 * Enqueues the one-off messages whose job was not enqueued yet: the relay enqueues each as it writes it, so this
 * normally finds nothing; it catches a relay that died between its write and its enqueue. A sweep (first pass, Redis
 * lost its data, every `fullSweepMs`) enqueues again every one whose delivery has not settled. The key is the jobId,
 * so nothing is added twice while the job exists, and the ledger refuses a second send after.
 */
export async function runOneOffPass(deps: OneOffPassDeps): Promise<OneOffPassResult> {
  const started = Date.now();
  const markerKey = `${deps.queue.qualifiedName}:one-off-swept-at`;
  const sweptAt = await deps.redis.get(markerKey);
  const sweep = sweptAt === null || Date.now() - Number(sweptAt) >= (deps.fullSweepMs ?? DEFAULT_FULL_SWEEP_MS);
  if (sweep) await resetOneOffBookmarks(deps.db);
  let enqueued = 0;
  for (let afterId = 0; ; ) {
    const ids = await findUnenqueuedOneOffs(deps.db, afterId, deps.batchSize);
    await enqueue(deps.queue, "one-off", ids.map((messageId) => ({ key: oneOffKey(messageId), messageId })), deps.backoffMs);
    await markOneOffsEnqueued(deps.db, ids);
    enqueued += ids.length;
    if (ids.length < deps.batchSize) break;
    afterId = ids[ids.length - 1]!;
  }
  // Only a timer: the marker's absence (Redis lost its data) is what matters, not this host's clock.
  if (sweep) await deps.redis.set(markerKey, String(Date.now()));
  const result: OneOffPassResult = { mode: sweep ? "sweep" : "incremental", enqueued, ms: Date.now() - started };
  if (enqueued > 0 || sweep) deps.logger.info(result, "one-off pass done");
  return result;
}
