import { randomBytes } from "node:crypto";
import { advanceEnrollment, enroll, loadCampaignDefinition, validateCampaign } from "@nudge/campaigns";
import { dripKey, reminderKey, type Channel } from "@nudge/core";
import { databaseNow, DeliveryLedger, type Db } from "@nudge/db";
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
 * Everything a webhook could write: every provider event, every suppression, each delivery's state and provider
 * status, and each drip enrollment's state. Two equal snapshots mean a request changed nothing.
 */
export async function snapshot(db: Db): Promise<string> {
  const events = await db.$queryRaw<unknown[]>`SELECT provider, event_key, delivery_id, status, detail FROM provider_events ORDER BY id`;
  const suppressions = await db.$queryRaw<unknown[]>`SELECT channel::text, address, reason, source FROM suppressions ORDER BY id`;
  const deliveries = await db.$queryRaw<unknown[]>`
    SELECT id, state::text, reason, provider_message_id, provider_status, provider_status_rank, updated_at FROM deliveries ORDER BY id`;
  const enrollments = await db.$queryRaw<unknown[]>`SELECT id, state::text, stop_reason, next_due_at, awaiting_key, updated_at FROM enrollments ORDER BY id`;
  return JSON.stringify({ events, suppressions, deliveries, enrollments });
}

export async function deliveryRow(db: Db, id: number) {
  return db.delivery.findUniqueOrThrow({ where: { id } });
}

export async function suppressionsFor(db: Db, address: string) {
  return db.suppression.findMany({ where: { address }, orderBy: { channel: "asc" }, select: { channel: true, reason: true, source: true } });
}

/** The drip campaign the stop tests enroll leads in: an SMS now, an email two days later. */
export const TEST_CAMPAIGN = "follow-up";

export async function loadTestCampaign(db: Db): Promise<void> {
  const definition = validateCampaign({
    id: TEST_CAMPAIGN,
    name: "Follow-up",
    version: 1,
    steps: [
      { id: "hello", channel: "sms", template: "Hi {{firstName}}, thanks for your interest.", delayHours: 0 },
      { id: "check-in", channel: "email", subject: "Still interested?", template: "Hi {{firstName}}, any questions?", delayHours: 48 },
    ],
  });
  const { outcome } = await loadCampaignDefinition(db, definition);
  if (outcome !== "created" && outcome !== "unchanged") throw new Error(`the test campaign could not be loaded: ${outcome}`);
}

let leads = 0;

/**
 * A fresh lead (its own phone number and address) enrolled in the test campaign. With `waitingStep`, its first step
 * is under way as the drip worker leaves it before the claim: the enrollment advanced and the step's delivery
 * created, `pending`, in one transaction.
 */
export async function enrolledLead(db: Db, options: { waitingStep?: boolean } = {}) {
  leads += 1;
  const n = String(leads).padStart(4, "0");
  const contact = await createContact(db, { name: `Lead ${n}`, phone: `+1555017${n}`, email: `lead${n}.${randomBytes(3).toString("hex")}@example.com` });
  const { enrollment } = await enroll(db, { contactId: contact.id, campaignId: TEST_CAMPAIGN });
  let stepId: number | undefined;
  if (options.waitingStep) {
    const key = dripKey({ enrollmentId: enrollment.id, stepId: "hello" });
    const now = await databaseNow(db);
    const delivery = await new DeliveryLedger(db).createWith(
      {
        idempotencyKey: key,
        kind: "drip",
        source: { type: "enrollment", id: enrollment.id, at: now },
        contactId: contact.id,
        step: 1,
        channel: "sms",
        recipient: contact.phone!,
        body: "Hi Lead, thanks for your interest.",
        deadline: new Date(now.getTime() + 24 * 3_600_000),
      },
      (q) => advanceEnrollment(q, { enrollmentId: enrollment.id, stepId: "hello", key, dueAt: now, timezone: "UTC", timezoneFallback: null }),
    );
    stepId = delivery.id;
  }
  return { contact: { ...contact, phone: contact.phone!, email: contact.email! }, enrollmentId: enrollment.id, stepId };
}

export async function enrollmentRow(db: Db, id: number) {
  const [row] = await db.$queryRaw<Array<{ state: string; stop_reason: string | null; next_due_at: Date | null }>>`
    SELECT state::text, stop_reason, next_due_at FROM enrollments WHERE id = ${id}`;
  return row!;
}

export async function stepRow(db: Db, id: number) {
  const [row] = await db.$queryRaw<Array<{ state: string; reason: string | null }>>`SELECT state::text, reason FROM deliveries WHERE id = ${id}`;
  return row!;
}

/**
 * What a claim leaves behind: the step is on its way to the provider. Written directly, since only the send guard
 * may claim (scripts/check-deps.ts), and these tests are about what a stop finds, not about the claim.
 */
export async function claimStep(db: Db, deliveryId: number): Promise<void> {
  await db.$executeRaw`
    UPDATE deliveries SET state = 'sending', fencing_token = fencing_token + 1, attempts = attempts + 1, claimed_at = nudge_now(),
      first_claimed_at = nudge_now(), lease_expires_at = nudge_now() + interval '1 minute', updated_at = nudge_now()
    WHERE id = ${deliveryId}`;
}
