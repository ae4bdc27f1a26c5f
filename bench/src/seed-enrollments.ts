import { loadCampaignDefinition, validateCampaign } from "@nudge/campaigns";
import type { Db } from "@nudge/db";
import type { Client } from "pg";
import { seedContacts } from "./seed";

/** The bench's campaign; its first step is the one every seeded enrollment is due for. */
export const BENCH_CAMPAIGN = validateCampaign(
  {
    id: "bench-drip",
    name: "Bench drip",
    version: 1,
    steps: [
      { id: "welcome", channel: "sms", delayHours: 0, template: "Hi {{firstName}}, welcome aboard! {{unsubscribeHint}}" },
      { id: "tips", channel: "email", delayHours: 24, subject: "Three tips, {{firstName}}", template: "Hi {{firstName}}, three tips. {{unsubscribeHint}}" },
      { id: "check-in", channel: "sms", delayHours: 72, template: "{{firstName}}, how is it going? {{unsubscribeHint}}" },
    ],
  },
  "bench/src/seed-enrollments.ts",
);

/** The step every seeded enrollment is due for. */
export const BENCH_DUE_STEP = BENCH_CAMPAIGN.steps[0]!.id;

/**
 * `count` contacts, each enrolled in the bench campaign and due for its first step at some moment of the past day
 * (the daily pass's usual backlog). The campaign is loaded the product's way (validated, then one transaction);
 * the enrollments are one INSERT ... SELECT, as `enroll` would leave them (version 1, position 0, active, not
 * enqueued), because a hundred thousand `enroll` transactions would take longer than what is measured.
 * Due times repeat every 86,400 enrollments, so the pass's keyset also meets ties on next_due_at.
 */
export async function seedDueEnrollments(db: Db, sql: Client, count: number): Promise<void> {
  const loaded = await loadCampaignDefinition(db, BENCH_CAMPAIGN);
  if (loaded.outcome !== "created") throw new Error(`loading the bench campaign: ${loaded.outcome} ${loaded.reason ?? ""}`.trim());
  await seedContacts(sql, count);
  await sql.query(
    `INSERT INTO enrollments (contact_id, campaign_id, version, next_due_at, enrolled_at, updated_at)
     SELECT id, $1, $2, date_trunc('second', nudge_now()) - make_interval(secs => id % 86400), nudge_now() - interval '1 day', nudge_now()
     FROM contacts ORDER BY id`,
    [BENCH_CAMPAIGN.id, BENCH_CAMPAIGN.version],
  );
  // Fresh tables have no statistics; without them the pass's plan is a guess.
  await sql.query("ANALYZE contacts");
  await sql.query("ANALYZE enrollments");
  await sql.query("ANALYZE campaign_steps");
}
