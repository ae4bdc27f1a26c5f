import path from "node:path";
import { enroll, loadCampaignFiles } from "@nudge/campaigns";
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
  await db.$executeRawUnsafe(
    `TRUNCATE deliveries, appointments, enrollments, campaign_steps, campaign_versions, campaigns, contacts RESTART IDENTITY CASCADE`,
  );
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

/** Demo leads for the drip campaign: people of their own, so that the reminders' recipients count only reminders. */
const LEADS = [
  { name: "Mary Jackson", phone: "+15550100011", email: "mary@example.com", timezone: "America/New_York" },
  { name: "Dorothy Vaughan", phone: "+15550100012", email: "dorothy@example.com", timezone: "America/Chicago" },
  { name: "Hedy Lamarr", phone: "+15550100013", email: "hedy@example.com", timezone: "Europe/Vienna" },
] as const;

/** The demo campaign (campaigns/demo-welcome.yaml: three steps three minutes apart), with the demo leads enrolled. */
export async function seedDemoCampaign(db: Db, root: string): Promise<{ campaignId: string; leads: string[] }> {
  const [report] = await loadCampaignFiles(db, [path.join(root, "campaigns/demo-welcome.yaml")]);
  if (!report?.campaignId || report.outcome === "refused") throw new Error(`the demo campaign could not be loaded: ${report?.reason ?? "no report"}`);
  for (const lead of LEADS) {
    const contact = await db.contact.create({ data: lead });
    await enroll(db, { contactId: contact.id, campaignId: report.campaignId });
  }
  return { campaignId: report.campaignId, leads: LEADS.map((l) => l.name) };
}
