import { type ReminderPlan, nextStepDueAt, reminderDeadline, reminderKey } from "@nudge/core";
import {
  type Db,
  DeliveryLedger,
  type ReminderBookmark,
  databaseNow,
  findLostReminders,
  findReminderCandidates,
  resetReminderBookmarks,
  saveReminderBookmarks,
} from "@nudge/db";
import type { Logger } from "@nudge/logger";
import { enqueueReminders, type Redis, type ReminderPayload } from "@nudge/queue";
import type { Queue } from "bullmq";

export interface PassDeps {
  db: Db;
  queue: Queue;
  /** The queue's connection: the sweep marker lives next to the jobs, so it vanishes when they do. */
  redis: Redis;
  plan: ReminderPlan;
  logger: Logger;
  batchSize: number;
  backoffMs?: number;
  /** How often a pass re-checks every due reminder instead of only the new ones. Default 15 minutes. */
  fullSweepMs?: number;
  /**
   * A delivery still `sending` this long after its lease ended, or still `pending` this long past its deadline, has
   * lost its job for good and is settled by the pass. Default 5 minutes.
   */
  abandonedAfterMs?: number;
}

export interface PassResult {
  /**
   * `sweep`: every due, unsettled reminder was re-enqueued (first pass, Redis lost its data, or the sweep timer);
   * `resumed-sweep`: the rest of a sweep that a failure cut short.
   */
  mode: "incremental" | "sweep" | "resumed-sweep";
  /** Appointments looked at. */
  looked: number;
  /** Reminders added under their key (a no-op where the job already exists). */
  enqueued: number;
  /**
   * Reminders whose job was lost where no sweep can bring it back (their appointment started): settled as skipped
   * (never claimed, or never even created) or unknown (claimed, outcome never recorded).
   */
  abandoned: { skipped: number; unknown: number; neverCreated: number };
  ms: number;
}

const DEFAULT_FULL_SWEEP_MS = 15 * 60_000;
const DEFAULT_ABANDONED_AFTER_MS = 5 * 60_000;

/**
 * One pass. Normally incremental: only appointments whose bookmark says they need a look (new, changed, or a step
 * became due since the last look), so a pass costs what is new, not what exists. A sweep first resets the bookmarks
 * of every appointment with a reminder due now, so that each unsettled one is enqueued again; it runs when the
 * marker it leaves in Redis is missing (the first pass, or Redis lost everything: Postgres is the source of truth)
 * and every `fullSweepMs` as a safety net for jobs lost any other way.
 *
 * Every pass also settles deliveries whose job was lost once no sweep can bring them back (their appointment has
 * started), so that nothing stays `pending` or `sending` for ever.
 *
 * Either way, running passes again, or from two schedulers at once, or 144 times during an outage, adds nothing
 * twice: the jobId dedupes while the job exists, and the ledger refuses a second send once it is gone.
 */
export async function runPass(deps: PassDeps): Promise<PassResult> {
  const started = Date.now();
  // Due times are judged by the database's clock, read once per pass, never by this host's.
  const now = await databaseNow(deps.db);
  const { redis } = deps;
  const markerKey = `${deps.queue.qualifiedName}:scheduler-swept-at`;
  const startedKey = `${deps.queue.qualifiedName}:scheduler-sweep-started-at`;
  const fullSweepMs = deps.fullSweepMs ?? DEFAULT_FULL_SWEEP_MS;
  const [sweptAt, sweepStartedAt] = (await redis.mget(markerKey, startedKey)).map((v) => (v === null ? undefined : Number(v)));
  const sweep = sweptAt === undefined || now.getTime() - sweptAt >= fullSweepMs;
  // A sweep that a failure cut short (Postgres restarting half-way) is resumed rather than begun again: its bookmark
  // reset has committed and each page it finished saved its bookmarks, so the bookmarks ask for exactly the rest.
  // Its start lives in the same Redis as the jobs: if Redis lost them since, the start is gone too and a new sweep begins.
  const resumed =
    sweep && sweepStartedAt !== undefined && sweepStartedAt > (sweptAt ?? 0) && now.getTime() - sweepStartedAt < fullSweepMs;
  const abandonedAfterMs = deps.abandonedAfterMs ?? DEFAULT_ABANDONED_AFTER_MS;
  const ledger = new DeliveryLedger(deps.db);
  let neverCreated = 0;
  if (sweep && !resumed) {
    // Reminders enqueued but never turned into a delivery, for appointments that have started: looked for in sweeps
    // only (they follow a loss of jobs), over the last hours of starts, and before this pass enqueues anything new.
    neverCreated = await recordLostReminders(deps, ledger, now, abandonedAfterMs);
    await resetReminderBookmarks(deps.db, deps.plan, now);
    await redis.set(startedKey, String(now.getTime()));
  }

  let looked = 0;
  let enqueued = 0;
  let afterId = 0;
  let saving: Promise<void> = Promise.resolve();
  try {
    for (;;) {
      const page = await findReminderCandidates(deps.db, deps.plan, now, { afterId, limit: deps.batchSize });
      looked += page.length;
      const jobs: ReminderPayload[] = [];
      const marks: ReminderBookmark[] = page.map((c) => {
        const due = c.dueStep ?? 0;
        if (due > c.enqueuedStep && !c.settled) {
          jobs.push({
            key: reminderKey({ appointmentId: c.appointmentId, startsAt: c.startsAt, step: due }),
            appointmentId: c.appointmentId,
            startsAt: c.startsAt.toISOString(),
            step: due,
          });
        }
        const through = Math.max(due, c.enqueuedStep);
        const over = c.startsAt.getTime() <= now.getTime();
        return {
          appointmentId: c.appointmentId,
          startsAt: c.startsAt,
          nextDueAt: over ? undefined : nextStepDueAt(deps.plan, c.startsAt, through),
          enqueuedStep: through,
        };
      });
      // Enqueue before saving the bookmarks: a crash in between makes the next pass enqueue again, which is a no-op.
      // The save overlaps with reading and enqueueing the next page (one save in flight at a time).
      await enqueueReminders(deps.queue, jobs, deps.backoffMs);
      await saving;
      saving = saveReminderBookmarks(deps.db, marks);
      saving.catch(() => undefined); // handled by the next `await saving`; this only keeps Node from calling it unhandled
      enqueued += jobs.length;
      if (page.length < deps.batchSize) break;
      afterId = page[page.length - 1]!.appointmentId;
    }
  } catch (error) {
    // A pass cut short leaves its finished pages' bookmarks saved before it reports: the next pass (which resumes
    // a sweep from them) must not start while one is still in flight.
    await saving.catch(() => undefined);
    throw error;
  }
  await saving;
  const settled = await ledger.settleAbandoned(abandonedAfterMs);
  const abandoned = { ...settled, neverCreated };
  // A resumed sweep counts from its start, so that the next timed sweep is not put off by the failure.
  if (sweep) await redis.set(markerKey, String(resumed ? sweepStartedAt : now.getTime()));
  const mode = resumed ? "resumed-sweep" : sweep ? "sweep" : "incremental";
  const result: PassResult = { mode, looked, enqueued, abandoned, ms: Date.now() - started };
  deps.logger.info(result, "scheduler pass done");
  return result;
}

const LOST_LOOKBACK_MS = 6 * 3600_000;

async function recordLostReminders(deps: PassDeps, ledger: DeliveryLedger, now: Date, abandonedAfterMs: number): Promise<number> {
  const lost = await findLostReminders(deps.db, new Date(now.getTime() - LOST_LOOKBACK_MS), new Date(now.getTime() - abandonedAfterMs));
  const inputs = lost.flatMap((r) => {
    const step = deps.plan.find((s) => s.step === r.step);
    if (!step) return [];
    return [
      {
        idempotencyKey: reminderKey({ appointmentId: r.appointmentId, startsAt: r.startsAt, step: r.step }),
        kind: "reminder" as const,
        source: { type: "appointment" as const, id: r.appointmentId, at: r.startsAt },
        contactId: r.contactId,
        step: r.step,
        channel: step.channel,
        recipient: (step.channel === "email" ? r.email : r.phone) ?? "",
        body: "",
        deadline: reminderDeadline(r.startsAt),
      },
    ];
  });
  const recorded = await ledger.recordLost(inputs, "its job was lost and the appointment started before it could be enqueued again");
  if (recorded) deps.logger.warn({ recorded }, "reminders whose job was lost were recorded as skipped");
  return recorded;
}
