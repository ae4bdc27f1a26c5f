import { type Db, DeliveryLedger, type Queryable, sqlPool } from "@nudge/db";
import type { EnrollmentState, StepRecord } from "./campaign-store";
import { nextSendTime } from "./send-window";
import { nextUndoneStep } from "./step-mapping";

const HOUR = 3_600_000;

/**
 * What a drip job needs, read in one round trip on the driver (this runs once per step): the enrollment, its lead,
 * its version's steps, and the database's clock.
 */
export interface DripTarget {
  now: Date;
  enrollment: {
    id: number;
    campaignId: string;
    campaignName: string;
    version: number;
    position: number;
    doneStepIds: string[];
    nextDueAt: Date | null;
    state: EnrollmentState;
    stopReason: string | null;
    awaitingKey: string | null;
    stalenessHours: number;
    timezoneFallback: string | null;
  };
  contact: { id: number; name: string; phone: string | null; email: string | null; hubspotId: string | null; timezone: string };
  steps: StepRecord[];
}

export async function loadDripTarget(db: Db, enrollmentId: number): Promise<DripTarget | undefined> {
  const { rows } = await sqlPool(db).query<DripTarget>(
    `SELECT nudge_now() AS now,
            json_build_object('id', e.id, 'campaignId', e.campaign_id, 'campaignName', v.definition->>'name', 'version', e.version,
                              'position', e.position, 'doneStepIds', e.done_step_ids, 'nextDueAt', e.next_due_at,
                              'state', e.state, 'stopReason', e.stop_reason, 'awaitingKey', e.awaiting_key,
                              'stalenessHours', v.staleness_hours, 'timezoneFallback', v.timezone_fallback) AS enrollment,
            json_build_object('id', c.id, 'name', c.name, 'phone', c.phone, 'email', c.email,
                              'hubspotId', c.hubspot_id, 'timezone', c.timezone) AS contact,
            (SELECT json_agg(json_build_object('id', s.step_id, 'position', s.position, 'channel', s.channel, 'subject', s.subject,
                                               'template', s.template, 'delayHours', s.delay_hours, 'sendWindow', s.send_window)
                             ORDER BY s.position)
             FROM campaign_steps s WHERE s.campaign_id = e.campaign_id AND s.version = e.version) AS steps
     FROM enrollments e
     JOIN contacts c ON c.id = e.contact_id
     JOIN campaign_versions v ON v.campaign_id = e.campaign_id AND v.version = e.version
     WHERE e.id = $1`,
    [enrollmentId],
  );
  const row = rows[0];
  if (!row) return undefined;
  // json_build_object gives timestamps as text.
  const nextDueAt = row.enrollment.nextDueAt === null ? null : new Date(row.enrollment.nextDueAt);
  return { ...row, enrollment: { ...row.enrollment, nextDueAt }, steps: row.steps ?? [] };
}

/** The step is no longer this enrollment's to send (stopped, completed, moved on by a migration): nothing to do. */
export class DripStepNotWanted extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "DripStepNotWanted";
  }
}

export interface AdvanceRequest {
  enrollmentId: number;
  stepId: string;
  /** The step's delivery key: the enrollment awaits it until it settles. */
  key: string;
  /** When the step was due (inside its send window): the next step's delay counts from it. */
  dueAt: Date;
  timezone: string;
  timezoneFallback: string | null;
}

/**
 * The drip step's database advance, run by the send guard in one transaction with the creation of the step's
 * delivery (see DeliverSteps.prepare). Locks the enrollment first, so that it serializes with a stop, a migration
 * and another attempt of the same step:
 *  - already advanced past this step (an earlier attempt committed): nothing to do, the delivery exists;
 *  - stopped, completed, or its next step is another one: DripStepNotWanted, nothing is created;
 *  - else: the step joins done_step_ids, the position moves to the next step not done, the next step's due time is
 *    its delay after this step's, in its send window (completed when none is left), and the enrollment awaits this
 *    step's delivery: the next step becomes due only once it settles (the ledger's settle hook, see the migration).
 */
export async function advanceEnrollment(q: Queryable, request: AdvanceRequest): Promise<void> {
  const { rows } = await q.query<{
    state: EnrollmentState;
    stopReason: string | null;
    position: number;
    doneStepIds: string[];
    awaitingKey: string | null;
    steps: StepRecord[] | null;
  }>(
    `SELECT e.state::text AS state, e.stop_reason AS "stopReason", e.position, e.done_step_ids AS "doneStepIds",
            e.awaiting_key AS "awaitingKey",
            (SELECT json_agg(json_build_object('id', s.step_id, 'delayHours', s.delay_hours, 'sendWindow', s.send_window) ORDER BY s.position)
             FROM campaign_steps s WHERE s.campaign_id = e.campaign_id AND s.version = e.version) AS steps
     FROM enrollments e WHERE e.id = $1 FOR UPDATE OF e`,
    [request.enrollmentId],
  );
  const e = rows[0];
  if (!e) throw new DripStepNotWanted(`enrollment ${request.enrollmentId} does not exist`);
  if (e.doneStepIds.includes(request.stepId)) return;
  if (e.state === "stopped") throw new DripStepNotWanted(`enrollment stopped: ${e.stopReason}`);
  const steps = e.steps ?? [];
  const current = steps[e.position]?.id;
  if (e.state !== "active" || current !== request.stepId || e.awaitingKey !== null) {
    const where = e.awaitingKey !== null ? "it has a step in flight" : current ? `its next step is ${current}` : "it has no step left";
    throw new DripStepNotWanted(`step ${request.stepId} is not the enrollment's to send now (${e.state}; ${where})`);
  }
  const done = [...e.doneStepIds, request.stepId];
  const next = nextUndoneStep(
    steps.map((s) => s.id),
    e.position + 1,
    done,
  );
  const nextStep = steps[next];
  const nextDueAt = nextStep
    ? nextSendTime(new Date(request.dueAt.getTime() + nextStep.delayHours * HOUR), nextStep.sendWindow ?? undefined, request.timezone, request.timezoneFallback)
    : null;
  await q.query(
    `UPDATE enrollments SET done_step_ids = $2, position = $3, next_due_at = $4,
       state = CASE WHEN $4::timestamptz IS NULL THEN 'completed' ELSE 'active' END::"EnrollmentState",
       -- A delivery under this key that has settled already (left by an attempt outside this protocol) is not waited for.
       awaiting_key = CASE WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.idempotency_key = $5
                                        AND d.state IN ('sent', 'failed', 'skipped', 'cancelled', 'undelivered')) THEN NULL ELSE $5 END,
       enqueued = false, last_step_at = nudge_now(), updated_at = nudge_now()
     WHERE id = $1`,
    [request.enrollmentId, done, next, nextDueAt, request.key],
  );
}

export interface StopResult {
  /** Enrollments stopped by this call (those already stopped or finished are left as they are). */
  stopped: number[];
  /** Steps that were waiting and now will not go out. */
  cancelled: number[];
  /** Steps already claimed when the stop committed: their message may be on its way and cannot be recalled. */
  inFlight: number[];
}

export interface StopSelector {
  contactIds?: readonly number[];
  enrollmentIds?: readonly number[];
  /** Only this campaign's enrollments. */
  campaignId?: string;
}

/**
 * Stops enrollments in progress (active, or completed with their last step still in flight) and cancels their
 * waiting steps, in one transaction. "Stop wins" means exactly this: the claim locks the enrollment FOR SHARE and
 * this UPDATE locks it for writing, so the two serialize. A stop that commits first leaves no step to claim; a claim
 * that committed first is reported in `inFlight` (at most that one message), and no later step follows it.
 */
export async function stopEnrollments(db: Db, selector: StopSelector, reason: string): Promise<StopResult> {
  const client = await sqlPool(db).connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ id: number }>(
      `UPDATE enrollments SET state = 'stopped', stop_reason = $4, next_due_at = NULL, enqueued = false, updated_at = nudge_now()
       WHERE (state = 'active' OR (state = 'completed' AND awaiting_key IS NOT NULL))
         AND (contact_id = ANY($1::int[]) OR id = ANY($2::int[]))
         AND ($3::text IS NULL OR campaign_id = $3)
       RETURNING id`,
      [selector.contactIds ?? [], selector.enrollmentIds ?? [], selector.campaignId ?? null, reason],
    );
    const stopped = rows.map((r) => r.id);
    // A second statement: it must see the steps as any claim that held the rows left them (a new snapshot).
    const steps = await new DeliveryLedger(db).cancelEnrollmentSteps(stopped, reason, client);
    await client.query("COMMIT");
    return { stopped, ...steps };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** The contacts with this phone number or email address (as stored, email compared lower-cased). */
export async function contactsByAddress(db: Db, address: { phone?: string; email?: string }): Promise<number[]> {
  const { rows } = await sqlPool(db).query<{ id: number }>(
    `SELECT id FROM contacts WHERE ($1::text IS NOT NULL AND phone = $1) OR ($2::text IS NOT NULL AND lower(email) = lower($2))`,
    [address.phone ?? null, address.email ?? null],
  );
  return rows.map((r) => r.id);
}
