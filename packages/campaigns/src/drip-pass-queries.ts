import { type Db, sqlPool } from "@nudge/db";

/** An enrollment's step to enqueue. `nextDueAt` and `enrollmentId` order the pass (its keyset). */
export interface DueStep {
  enrollmentId: number;
  stepId: string;
  nextDueAt: Date;
}

/**
 * A page of the steps the daily pass has to enqueue: active enrollments due by `now` (the database's clock), with no
 * step in flight, not enqueued since they last changed. Keyset-paged on (next_due_at, id), which the partial index
 * enrollments_due_idx holds in order: a page costs its own rows, and a repeated pass over unchanged enrollments finds
 * the index empty below now.
 */
export async function findDueSteps(db: Db, now: Date, after: { nextDueAt: Date; enrollmentId: number } | undefined, limit: number): Promise<DueStep[]> {
  const { rows } = await sqlPool(db).query<DueStep>(
    `SELECT e.id AS "enrollmentId", s.step_id AS "stepId", e.next_due_at AS "nextDueAt"
     FROM enrollments e
     JOIN campaign_steps s ON s.campaign_id = e.campaign_id AND s.version = e.version AND s.position = e.position
     WHERE e.state = 'active' AND NOT e.enqueued AND e.awaiting_key IS NULL AND e.next_due_at <= $1
       AND (e.next_due_at, e.id) > ($2::timestamptz, $3::int)
     ORDER BY e.next_due_at, e.id
     LIMIT $4`,
    [now, after?.nextDueAt ?? new Date(0), after?.enrollmentId ?? 0, limit],
  );
  return rows;
}

/**
 * The pass's bookmark: these steps' jobs exist. Only where the enrollment still waits for that very step: a worker
 * quick enough to have advanced it meanwhile has set up the next step, which must not be marked as enqueued.
 */
export async function markStepsEnqueued(db: Db, steps: readonly DueStep[]): Promise<void> {
  if (steps.length === 0) return;
  await sqlPool(db).query(
    // Rows locked in id order (as the sweep's reset does), so that two schedulers' passes never deadlock.
    `WITH locked AS (
       SELECT e.id FROM enrollments e JOIN unnest($1::int[], $2::text[]) AS u(id, step_id) ON e.id = u.id
       -- By primary key: without it the planner hashes the whole table for each page.
       WHERE e.id = ANY($1::int[]) AND e.state = 'active' AND e.awaiting_key IS NULL AND NOT (u.step_id = ANY(e.done_step_ids))
       ORDER BY e.id FOR UPDATE OF e)
     UPDATE enrollments e SET enqueued = true FROM locked WHERE e.id = locked.id`,
    [steps.map((s) => s.enrollmentId), steps.map((s) => s.stepId)],
  );
}

/**
 * A sweep (Redis may have lost the jobs): every due step enqueued but not yet taken up is enqueued again. Returns
 * how many bookmarks were reset.
 */
export async function resetDripBookmarks(db: Db, now: Date): Promise<number> {
  const { rowCount } = await sqlPool(db).query(
    `WITH locked AS (
       SELECT id FROM enrollments WHERE state = 'active' AND enqueued AND awaiting_key IS NULL AND next_due_at <= $1
       ORDER BY id FOR UPDATE)
     UPDATE enrollments e SET enqueued = false FROM locked WHERE e.id = locked.id`,
    [now],
  );
  return rowCount ?? 0;
}

/**
 * A page of steps in flight whose delivery is still waiting to be claimed: after a crash between the database
 * advance and the send, and a loss of the job, only a new job sends them (the delivery is found by its key).
 */
export async function findWaitingStepsInFlight(db: Db, afterId: number, limit: number): Promise<DueStep[]> {
  const { rows } = await sqlPool(db).query<DueStep>(
    `SELECT e.id AS "enrollmentId", substring(e.awaiting_key FROM '\\.step-(.*)$') AS "stepId", d.deadline AS "nextDueAt"
     FROM enrollments e JOIN deliveries d ON d.idempotency_key = e.awaiting_key
     WHERE e.awaiting_key IS NOT NULL AND e.id > $1 AND d.state = 'pending'
     ORDER BY e.id
     LIMIT $2`,
    [afterId, limit],
  );
  return rows;
}
