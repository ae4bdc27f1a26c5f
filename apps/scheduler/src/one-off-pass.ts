import { oneOffKey } from "@nudge/core";
import { type Db, deleteHandoffs, findStaleHandoffs, findUnenqueuedOneOffs, markOneOffsEnqueued, resetOneOffBookmarks } from "@nudge/db";
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
  /** How old a handoff must be before a pass takes it over from the process that wrote it. Default 1 minute. */
  handoffStaleMs?: number;
}

export interface OneOffPassResult {
  mode: "incremental" | "sweep";
  enqueued: number;
  ms: number;
}

const DEFAULT_FULL_SWEEP_MS = 15 * 60_000;
const DEFAULT_HANDOFF_STALE_MS = 60_000;
const HANDOFF_PAGE = 100;

/**
 * Enqueues the one-off messages whose job may be missing: those of handoffs older than `handoffStaleMs` (the relay
 * or the API adds a handoff's jobs as it writes it and then deletes it, so this normally finds none; it catches a
 * process that died in between) and those whose bookmark a sweep reset. A sweep (first pass, Redis lost its data,
 * every `fullSweepMs`) resets the bookmark of every one whose delivery has not settled. The key is the jobId, so
 * nothing is added twice while the job exists, and the ledger refuses a second send after.
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
  // A handoff at a time (one writer's transaction: a relay's batch at most), each deleted once its jobs are added.
  for (;;) {
    const handoffs = await findStaleHandoffs(deps.db, deps.handoffStaleMs ?? DEFAULT_HANDOFF_STALE_MS, HANDOFF_PAGE);
    for (const handoff of handoffs) {
      await enqueue(deps.queue, "one-off", handoff.messageIds.map((messageId) => ({ key: oneOffKey(messageId), messageId })), deps.backoffMs);
      await deleteHandoffs(deps.db, [handoff.id]);
      enqueued += handoff.messageIds.length;
    }
    if (handoffs.length < HANDOFF_PAGE) break;
  }
  // Only a timer: the marker's absence (Redis lost its data) is what matters, not this host's clock.
  if (sweep) await deps.redis.set(markerKey, String(Date.now()));
  const result: OneOffPassResult = { mode: sweep ? "sweep" : "incremental", enqueued, ms: Date.now() - started };
  if (enqueued > 0 || sweep) deps.logger.info(result, "one-off pass done");
  return result;
}
