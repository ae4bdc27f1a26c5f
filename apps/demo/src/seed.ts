import type { Db } from "@nudge/db";

/** Fictional people (+1 555-01xx numbers are reserved for fiction; example.com for documentation). */
const PEOPLE = [
  { name: "Ada Lovelace", phone: "+15550100001", email: "ada@example.com", timezone: "Europe/London", inMinutes: 20 },
  { name: "Grace Hopper", phone: "+15550100002", email: "grace@example.com", timezone: "America/New_York", inMinutes: 90 },
  { name: "Alan Turing", phone: "+15550100003", email: "alan@example.com", timezone: "Europe/London", inMinutes: 600 },
  { name: "Katherine Johnson", phone: "+15550100004", email: null, timezone: "America/Chicago", inMinutes: 45 },
  { name: "Edsger Dijkstra", phone: "+15550100005", email: "edsger@example.com", timezone: "Europe/Amsterdam", inMinutes: 25, cancelled: true },
] as const;

export interface SeededAppointment {
  name: string;
  appointmentId: number;
  startsAt: Date;
  cancelled: boolean;
}

/** Replaces the demo database's data with a few contacts whose reminders are due now, on every channel. */
export async function seedDemo(db: Db, now: Date): Promise<SeededAppointment[]> {
  await db.$executeRawUnsafe(`TRUNCATE deliveries, appointments, contacts RESTART IDENTITY CASCADE`);
  const seeded: SeededAppointment[] = [];
  for (const [i, p] of PEOPLE.entries()) {
    const contact = await db.contact.create({
      data: { name: p.name, phone: p.phone, email: p.email, timezone: p.timezone, hubspotId: `demo-${i + 1}` },
    });
    const startsAt = new Date(Math.floor(now.getTime() / 60_000) * 60_000 + p.inMinutes * 60_000);
    const cancelled = "cancelled" in p && p.cancelled;
    const appt = await db.appointment.create({
      data: { contactId: contact.id, startsAt, status: cancelled ? "cancelled" : "scheduled" },
    });
    seeded.push({ name: p.name, appointmentId: appt.id, startsAt, cancelled });
  }
  return seeded;
}
