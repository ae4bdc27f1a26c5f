import { type CampaignDefinition, enroll, loadCampaignDefinition, validateCampaign } from "@nudge/campaigns";
import type { Db } from "@nudge/db";
import { Client } from "pg";

const HOUR_SECONDS = 3600;

/**
 * The drip campaign the chaos fleet runs beside the reminders: email and SMS in turn, each step 18 s after the
 * previous one settled, so that a lead enrolled during a storm goes through all four steps within the run. Every
 * template names its step and its lead (`[ping] for Chaos Person 12`): the phones and addresses of the workload
 * also get reminders, and the judge reads the simulator's record, so the text alone says which step of which lead a
 * message was. `stalenessHours` is far longer than the run: no step may be skipped as stale inside it, so every step
 * of every enrollment is owed until it is accepted, and no fault excuses a missing one.
 */
export const CHAOS_CAMPAIGN_STEPS = [
  { id: "hello", channel: "email", delaySeconds: 0 },
  { id: "ping", channel: "sms", delaySeconds: 18 },
  { id: "story", channel: "email", delaySeconds: 18 },
  { id: "last-call", channel: "sms", delaySeconds: 18 },
] as const;
export type ChaosDripChannel = (typeof CHAOS_CAMPAIGN_STEPS)[number]["channel"];

export const CHAOS_CAMPAIGN: CampaignDefinition = validateCampaign({
  id: "chaos-drip",
  name: "Chaos drip",
  version: 1,
  stalenessHours: 24,
  steps: CHAOS_CAMPAIGN_STEPS.map((s) => ({
    id: s.id,
    channel: s.channel,
    delayHours: s.delaySeconds / HOUR_SECONDS,
    template: `[${s.id}] for {{name}}`,
    ...(s.channel === "email" && { subject: `[${s.id}] for {{name}}` }),
  })),
});

/** What a drip message's text says: the step and the lead's name (the workload's contacts are "Chaos Person <n>"). */
export const DRIP_TEXT = /\[([a-z0-9-]+)\] for (Chaos Person \d+)\b/;

/**
 * Time a lead needs from enrollment to its last step in a calm fleet, plus a margin: the suite stops enrolling this
 * long before the last appointment starts, so that every enrollment can end inside the run, not in the drain.
 */
export const DRIP_TAIL_SECONDS = CHAOS_CAMPAIGN_STEPS.reduce((sum, s) => sum + s.delaySeconds, 0) + 36;

/** Loads the campaign, as `nudge campaigns load` would, and picks `leads` contacts of the workload at random. */
export async function seedDripCampaign(db: Db, databaseUrl: string, leads: number): Promise<number[]> {
  const loaded = await loadCampaignDefinition(db, CHAOS_CAMPAIGN);
  if (loaded.outcome === "refused") throw new Error(`the chaos campaign was refused: ${loaded.reason}`);
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: number }>("SELECT id FROM contacts ORDER BY random() LIMIT $1", [leads]);
    return rows.map((r) => r.id);
  } finally {
    await client.end();
  }
}

/**
 * Enrolls the leads at an even pace from `from` to `until` (ms since the epoch), as a CRM would over a day, so that
 * steps fall in storms and calms alike. An enrollment that fails (a fault cut the connection) is tried again a second
 * later: `enroll` returns the existing enrollment when an earlier attempt committed after all. Resolves with the
 * contacts enrolled, which is what the judge holds owed; `stop()` (the run is over) ends it early.
 */
export function enrollOverTime(
  db: Db,
  contactIds: readonly number[],
  from: number,
  until: number,
  log: (line: string) => void,
): { done: Promise<number[]>; stop: () => void } {
  const enrolled: number[] = [];
  let stopped = false;
  const done = (async () => {
    let failures = 0;
    while (!stopped && enrolled.length < contactIds.length) {
      const share = until <= from ? 1 : Math.min(1, Math.max(0, (Date.now() - from) / (until - from)));
      const target = Math.ceil(contactIds.length * share);
      try {
        while (!stopped && enrolled.length < target) {
          const contactId = contactIds[enrolled.length]!;
          await enroll(db, { contactId, campaignId: CHAOS_CAMPAIGN.id });
          enrolled.push(contactId);
        }
      } catch (error) {
        // Prisma's messages span lines and end with the driver's reason.
        const reason = (error as Error).message.split("\n").map((line) => line.trim()).filter(Boolean).pop();
        if (failures++ % 10 === 0) log(`chaos: enrolling a lead failed (tried again in a second): ${reason}`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (enrolled.length < contactIds.length) log(`chaos: stopped enrolling with ${enrolled.length} of ${contactIds.length} leads enrolled`);
    return enrolled;
  })();
  return {
    done,
    stop: () => {
      stopped = true;
    },
  };
}
