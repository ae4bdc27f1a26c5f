import type { Db } from "@nudge/db";

let counter = 0;

/** A contact with both phone and email (fictional: +1 555-01xx is reserved for fiction, example.com for docs). */
export async function createContact(
  db: Db,
  overrides: Partial<{ name: string; phone: string | null; email: string | null; hubspotId: string | null; timezone: string }> = {},
) {
  counter++;
  const n = String(counter % 100).padStart(2, "0");
  return db.contact.create({
    data: {
      name: overrides.name ?? `Test Person ${counter}`,
      phone: overrides.phone === undefined ? `+1555010${n.padStart(4, "0")}` : overrides.phone,
      email: overrides.email === undefined ? `person${counter}@example.com` : overrides.email,
      hubspotId: overrides.hubspotId === undefined ? null : overrides.hubspotId, // not in the CRM yet: found or created on the first message
      timezone: overrides.timezone ?? "UTC",
    },
  });
}

/** An appointment `inMinutes` from `now` (default: 20 minutes, so the voice step is the one due). */
export async function createAppointment(db: Db, contactId: number, options: { inMinutes?: number; now?: Date } = {}) {
  const now = options.now ?? new Date();
  // Whole seconds: idempotency keys carry second precision.
  const startsAt = new Date(Math.floor((now.getTime() + (options.inMinutes ?? 20) * 60_000) / 1000) * 1000);
  return db.appointment.create({ data: { contactId, startsAt } });
}
