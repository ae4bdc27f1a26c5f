import { randomBytes } from "node:crypto";
import { reminderKey, type Channel } from "@nudge/core";
import type { Db } from "@nudge/db";
import { createAppointment, createContact } from "@nudge/testing";

let sequence = 0;

/** A Twilio-shaped sid: two letters and 32 hex digits. */
export function sid(prefix: "SM" | "CA" = "SM"): string {
  return prefix + randomBytes(16).toString("hex");
}

/** A delivery row as the send guard leaves it, in `state`, for a fresh contact and appointment. */
export async function makeDelivery(
  db: Db,
  channel: Channel,
  state: "sent" | "unknown" | "pending" | "sending",
  options: { providerMessageId?: string } = {},
) {
  sequence += 1;
  const contact = await createContact(db, { phone: `+1555019${String(sequence).padStart(4, "0")}`, email: `patient${sequence}@example.com` });
  const appt = await createAppointment(db, contact.id, { inMinutes: 60 });
  return db.delivery.create({
    data: {
      idempotencyKey: reminderKey({ appointmentId: appt.id, startsAt: appt.startsAt, step: 1 }),
      kind: "reminder",
      sourceType: "appointment",
      sourceId: appt.id,
      contactId: contact.id,
      appointmentId: appt.id,
      appointmentStartsAt: appt.startsAt,
      step: 1,
      channel,
      recipient: channel === "email" ? contact.email! : contact.phone!,
      body: "Reminder: your appointment",
      state,
      deadline: appt.startsAt,
      providerMessageId: options.providerMessageId ?? null,
      ...(state === "sent" && { sentAt: new Date() }),
    },
  });
}

/**
 * Everything a webhook could write: every provider event, every suppression, and each delivery's state and provider
 * status. Two equal snapshots mean a request changed nothing.
 */
export async function snapshot(db: Db): Promise<string> {
  const events = await db.$queryRaw<unknown[]>`SELECT provider, event_key, delivery_id, status, detail FROM provider_events ORDER BY id`;
  const suppressions = await db.$queryRaw<unknown[]>`SELECT channel::text, address, reason, source FROM suppressions ORDER BY id`;
  const deliveries = await db.$queryRaw<unknown[]>`
    SELECT id, state::text, reason, provider_message_id, provider_status, provider_status_rank, updated_at FROM deliveries ORDER BY id`;
  return JSON.stringify({ events, suppressions, deliveries });
}

export async function deliveryRow(db: Db, id: number) {
  return db.delivery.findUniqueOrThrow({ where: { id } });
}

export async function suppressionsFor(db: Db, address: string) {
  return db.suppression.findMany({ where: { address }, orderBy: { channel: "asc" }, select: { channel: true, reason: true, source: true } });
}
