import { getHeapStatistics } from "node:v8";
import type { Logger } from "@nudge/logger";

/**
 * The scheduler's V8 old-space budget, in MB, as every launcher Nudge ships passes it (docker-compose.yml, the
 * demo, `npm start -w @nudge/scheduler`): `node --max-old-space-size=128`.
 *
 * Why a bound: a pass streams its pages (a page of 1,000 rows at a time; after a pass over 100,000 enrollments it has
 * kept about 1.5 MB), but V8 left to itself lets old-space garbage pile up until a mark-compact and then raises its
 * limit with the allocation rate, so an unbounded scheduler's RSS grows with the size of the pass although the pass
 * keeps nothing (`npm run bench -- --only drip` prints both). With the bound, a pass over any number of rows runs in
 * the same memory, for some more collections. 128 MB is about three times the scheduler's live heap after a pass
 * (tsx, Prisma, BullMQ and a page in flight per pass: ~45 MB).
 */
export const SCHEDULER_HEAP_MB = 128;

/** The node flags that set the budget: for launchers (the demo, the benchmark) that start the scheduler. */
export const SCHEDULER_NODE_FLAGS: readonly string[] = [`--max-old-space-size=${SCHEDULER_HEAP_MB}`];

/**
 * Says at start-up whether this long-running process runs within the budget. V8's limit cannot change once the
 * process runs, so a scheduler started without the flag (`nudge scheduler`, a launcher of one's own) can only say how
 * to set it.
 */
export function reportHeapBudget(logger: Logger): void {
  const limitMb = Math.round(getHeapStatistics().heap_size_limit / 2 ** 20);
  // heap_size_limit is the old space plus the young generation's semi-spaces: allow for them.
  if (limitMb <= SCHEDULER_HEAP_MB * 2) {
    logger.info({ heapLimitMb: limitMb }, "heap bounded");
    return;
  }
  logger.warn(
    { heapLimitMb: limitMb, budgetMb: SCHEDULER_HEAP_MB },
    `heap unbounded: the scheduler's RSS will grow with the size of a pass (garbage, not retained data); start it with NODE_OPTIONS=--max-old-space-size=${SCHEDULER_HEAP_MB}`,
  );
}
