import type { Channel, ReminderPlan } from "@nudge/core";
import { maxLeadMinutes } from "@nudge/core";
import { type Db, sqlPool } from "./client";

/**
 * A sweep: every appointment with a reminder due now gets its bookmark reset, so the incremental pass that follows
 * looks at it again and enqueues its due step unless the ledger has settled it. Used when Redis may have lost jobs.
 */
export async function resetReminderBookmarks(db: Db, plan: ReminderPlan, now: Date): Promise<number> {
  const horizon = new Date(now.getTime() + maxLeadMinutes(plan) * 60_000);
  return db.$executeRaw`
    UPDATE appointments SET next_due_at = NULL, enqueued_step = 0
    WHERE status = 'scheduled' AND starts_at > ${now} AND starts_at <= ${horizon}
      AND (next_due_at IS NOT NULL OR enqueued_step <> 0)`;
}

export interface ReminderCandidate {
  appointmentId: number;
  startsAt: Date;
  enqueuedStep: number;
  /** The latest plan step already due, if any. */
  dueStep: number | null;
  /** That step's delivery is already settled: nothing to enqueue. */
  settled: boolean;
}

/**
 * The incremental pass: only appointments whose bookmark says they need a look (new, changed, or a step has become
 * due since the last look), found through a partial index, so a pass over an unchanged set reads nothing. Paged by
 * id (keyset), so that a long pass never re-reads the rows it has already done.
 */
export async function findReminderCandidates(
  db: Db,
  plan: ReminderPlan,
  now: Date,
  page: { afterId: number; limit: number },
): Promise<ReminderCandidate[]> {
  const steps = plan.map((s) => s.step);
  const leads = plan.map((s) => s.leadMinutes);
  return db.$queryRaw<ReminderCandidate[]>`
    SELECT x.id AS "appointmentId", x.starts_at AS "startsAt", x.enqueued_step AS "enqueuedStep", x.step AS "dueStep",
           (x.step IS NOT NULL AND EXISTS (
              SELECT 1 FROM deliveries d
              WHERE d.appointment_id = x.id AND d.step = x.step AND d.appointment_starts_at = x.starts_at
                AND d.state NOT IN ('pending', 'sending'))) AS settled
    FROM (
      SELECT a.id, a.starts_at, a.enqueued_step,
             (SELECT max(p.step) FROM unnest(${steps}::int[], ${leads}::float8[]) AS p(step, lead_minutes)
              WHERE a.starts_at - p.lead_minutes * interval '1 minute' <= ${now}) AS step
      FROM appointments a
      WHERE a.status = 'scheduled' AND (a.next_due_at IS NULL OR a.next_due_at <= ${now}) AND a.id > ${page.afterId}
      ORDER BY a.id
      LIMIT ${page.limit}
    ) x`;
}

export interface LostReminder {
  appointmentId: number;
  contactId: number;
  startsAt: Date;
  step: number;
  phone: string | null;
  email: string | null;
}

/**
 * Reminders that were enqueued (the bookmark says so) but whose job vanished before any worker created their
 * delivery, for appointments that started between `from` and `to`: no sweep can bring them back, and without a row
 * they would be lost without a trace. The caller records each as skipped, with the reason.
 */
export async function findLostReminders(db: Db, from: Date, to: Date): Promise<LostReminder[]> {
  const { rows } = await sqlPool(db).query<LostReminder>(
    `SELECT nudge_now() AS now, a.id AS "appointmentId", a.contact_id AS "contactId", a.starts_at AS "startsAt", a.enqueued_step AS step,
            c.phone, c.email
     FROM appointments a JOIN contacts c ON c.id = a.contact_id
     WHERE a.status = 'scheduled' AND a.starts_at > $1 AND a.starts_at <= $2 AND a.enqueued_step > 0
       AND NOT EXISTS (SELECT 1 FROM deliveries d
                       WHERE d.appointment_id = a.id AND d.step = a.enqueued_step AND d.appointment_starts_at = a.starts_at)`,
    [from, to],
  );
  return rows;
}

export interface ReminderBookmark {
  appointmentId: number;
  /** The start the bookmark was computed for: a concurrent reschedule wins over a stale bookmark. */
  startsAt: Date;
  /** Undefined: nothing left to look at unless the appointment changes. */
  nextDueAt: Date | undefined;
  enqueuedStep: number;
}

export async function saveReminderBookmarks(db: Db, marks: readonly ReminderBookmark[]): Promise<void> {
  if (marks.length === 0) return;
  await db.$executeRaw`
    UPDATE appointments a SET next_due_at = u.next_due_at, enqueued_step = u.enqueued_step
    FROM unnest(${marks.map((m) => m.appointmentId)}::int[], ${marks.map((m) => m.startsAt.toISOString())}::timestamptz[],
                ${marks.map((m) => m.nextDueAt?.toISOString() ?? "infinity")}::timestamptz[], ${marks.map((m) => m.enqueuedStep)}::int[])
         AS u(id, starts_at, next_due_at, enqueued_step)
    WHERE a.id = u.id AND a.starts_at = u.starts_at AND a.status = 'scheduled'`;
}

export interface ReminderTarget {
  /** The database's clock when the target was read: what the worker judges "due" and "superseded" by. */
  now: Date;
  appointmentId: number;
  startsAt: Date;
  status: "scheduled" | "confirmed" | "cancelled" | "completed";
  contact: { id: number; name: string; phone: string | null; email: string | null; hubspotId: string | null; timezone: string };
}

/** The appointment and its contact, in one round trip on the driver (this runs once per reminder job). */
export async function loadReminderTarget(db: Db, appointmentId: number): Promise<ReminderTarget | undefined> {
  const { rows } = await sqlPool(db).query<ReminderTarget>(
    `SELECT nudge_now() AS now, a.id AS "appointmentId", a.starts_at AS "startsAt", a.status::text AS status,
            json_build_object('id', c.id, 'name', c.name, 'phone', c.phone, 'email', c.email,
                              'hubspotId', c.hubspot_id, 'timezone', c.timezone) AS contact
     FROM appointments a JOIN contacts c ON c.id = a.contact_id
     WHERE a.id = $1`,
    [appointmentId],
  );
  return rows[0];
}

/**
 * Stores the contact's CRM id as the CRM reported it (found, created, or re-found after a deletion or merge).
 * Idempotent: the same id written twice changes nothing.
 */
export async function saveContactCrmId(db: Db, contactId: number, crmId: string): Promise<void> {
  await sqlPool(db).query(
    "UPDATE contacts SET hubspot_id = $2, updated_at = nudge_now() WHERE id = $1 AND hubspot_id IS DISTINCT FROM $2",
    [contactId, crmId],
  );
}

/** The database's clock: what a scheduler pass judges due times by. */
export async function databaseNow(db: Db): Promise<Date> {
  const { rows } = await sqlPool(db).query<{ now: Date }>("SELECT nudge_now() AS now");
  return rows[0]!.now;
}

export function recipientFor(channel: Channel, contact: ReminderTarget["contact"]): string | null {
  return channel === "email" ? contact.email : contact.phone;
}
