import { type CrmGateway, type ReminderPlan, dueStep, reminderDeadline, reminderKey, reminderText } from "@nudge/core";
import { type Db, loadReminderTarget, recipientFor, saveContactCrmId } from "@nudge/db";
import type { ReminderPayload } from "@nudge/queue";
import type { DeliveryOutcome, GuardedMessage, SendGuard } from "@nudge/send-guard";
import { UnrecoverableError } from "bullmq";

export interface ReminderDeps {
  db: Db;
  guard: SendGuard;
  crm: CrmGateway;
  plan: ReminderPlan;
}

/**
 * One reminder: build the message and its CRM step, and hand both to the send guard, which owns everything that
 * makes a retry harmless (create, claim with a lease, look, send, record; retries until the deadline).
 */
export async function processReminder(payload: ReminderPayload, deps: ReminderDeps): Promise<DeliveryOutcome> {
  const startsAt = new Date(payload.startsAt);
  const expected = reminderKey({ appointmentId: payload.appointmentId, startsAt, step: payload.step });
  if (payload.key !== expected) {
    throw new UnrecoverableError(`Invalid reminder payload: key: expected ${expected} for this appointment, start and step, got ${payload.key}`);
  }
  const step = deps.plan.find((s) => s.step === payload.step);
  if (!step) throw new UnrecoverableError(`Invalid reminder payload: step: the reminder plan has no step ${payload.step}`);
  const target = await loadReminderTarget(deps.db, payload.appointmentId);
  if (!target) throw new UnrecoverableError(`Appointment ${payload.appointmentId} does not exist`);

  const recipient = recipientFor(step.channel, target.contact);
  const text = reminderText({ name: target.contact.name, startsAt, timezone: target.contact.timezone, channel: step.channel });
  // Still on: the appointment is still scheduled for the start this job was made for. A stale job's delivery is
  // recorded (the claim cancels it) but it neither writes the CRM nor retires the new start's reminders.
  const stillOn = target.status === "scheduled" && target.startsAt.getTime() === startsAt.getTime();
  const message: GuardedMessage = {
    idempotencyKey: payload.key,
    kind: "reminder",
    source: { type: "appointment", id: target.appointmentId, at: startsAt },
    contactId: target.contact.id,
    step: step.step,
    channel: step.channel,
    recipient: recipient ?? "",
    subject: step.channel === "email" ? text.subject : undefined,
    body: text.body,
    deadline: reminderDeadline(startsAt),
    supersedesEarlierSteps: stillOn,
  };

  // A job that waited in a backlog until a later step became due is superseded (judged by the database's clock):
  // the recipient gets the later, more useful reminder instead of both in a burst.
  const due = dueStep(deps.plan, startsAt, target.now);
  const skipReason = !recipient
    ? `contact ${target.contact.id} has no ${step.channel === "email" ? "email address" : "phone number"}`
    : due && due.step > step.step
      ? `superseded by step ${due.step}`
      : undefined;
  const { contact } = target;

  return deps.guard.deliver(message, {
    skipReason,
    // CRM first (inside the guard, before anything is claimed), and only for a reminder still going out: a stale
    // job must not write an older step over a newer one. The contact is found or created there; its id is kept.
    ...(stillOn && {
      crm: async () => {
        const crmId = await deps.crm.upsertContact(
          { contactId: contact.id, crmId: contact.hubspotId, name: contact.name, email: contact.email, phone: contact.phone },
          {
            nudge_next_appointment_at: startsAt.toISOString(),
            nudge_last_reminder_step: String(step.step),
            nudge_last_reminder_channel: step.channel,
          },
        );
        if (crmId !== contact.hubspotId) await saveContactCrmId(deps.db, contact.id, crmId);
      },
    }),
  });
}
