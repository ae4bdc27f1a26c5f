import type { Channel, ReminderPlan } from "@nudge/core";
import { maxLeadMinutes } from "@nudge/core";
import type { Db } from "./client";

export interface DueReminder {
  appointmentId: number;
  startsAt: Date;
  step: number;
}

/**
 * One page of the scheduler's pass: for every scheduled appointment inside the reminder horizon, the latest plan step
 * already due (earlier ones are superseded, see dueStep in @nudge/core), unless that step's delivery is already
 * settled. Pending and sending deliveries are returned again on purpose: their job may have been lost with Redis,
 * and re-adding an existing jobId is a no-op.
 */
export async function findDueReminders(
  db: Db,
  plan: ReminderPlan,
  now: Date,
  page: { afterId: number; limit: number },
): Promise<DueReminder[]> {
  const steps = plan.map((s) => s.step);
  const leads = plan.map((s) => s.leadMinutes);
  const horizon = new Date(now.getTime() + maxLeadMinutes(plan) * 60_000);
  return db.$queryRaw<DueReminder[]>`
    SELECT x.id AS "appointmentId", x.starts_at AS "startsAt", x.step
    FROM (
      SELECT DISTINCT ON (a.id) a.id, a.starts_at, p.step
      FROM appointments a
      JOIN unnest(${steps}::int[], ${leads}::int[]) AS p(step, lead_minutes)
        ON a.starts_at - make_interval(mins => p.lead_minutes) <= ${now}
      WHERE a.status = 'scheduled' AND a.starts_at > ${now} AND a.starts_at <= ${horizon} AND a.id > ${page.afterId}
      ORDER BY a.id, p.step DESC
    ) x
    WHERE NOT EXISTS (
      SELECT 1 FROM deliveries d
      WHERE d.appointment_id = x.id AND d.step = x.step AND d.appointment_starts_at = x.starts_at
        AND d.state NOT IN ('pending', 'sending'))
    ORDER BY x.id
    LIMIT ${page.limit}`;
}

export interface ReminderTarget {
  appointmentId: number;
  startsAt: Date;
  status: "scheduled" | "confirmed" | "cancelled" | "completed";
  contact: { id: number; name: string; phone: string | null; email: string | null; hubspotId: string | null; timezone: string };
}

export async function loadReminderTarget(db: Db, appointmentId: number): Promise<ReminderTarget | undefined> {
  const a = await db.appointment.findUnique({ where: { id: appointmentId }, include: { contact: true } });
  if (!a) return undefined;
  const { contact } = a;
  return {
    appointmentId: a.id,
    startsAt: a.startsAt,
    status: a.status,
    contact: {
      id: contact.id,
      name: contact.name,
      phone: contact.phone,
      email: contact.email,
      hubspotId: contact.hubspotId,
      timezone: contact.timezone,
    },
  };
}

export function recipientFor(channel: Channel, contact: ReminderTarget["contact"]): string | null {
  return channel === "email" ? contact.email : contact.phone;
}
