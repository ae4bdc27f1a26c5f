import { type CampaignDefinition, enroll, loadCampaignDefinition, validateCampaign } from "@nudge/campaigns";
import type { Db } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { createQueue, type Redis } from "@nudge/queue";
import { runDripPass } from "@nudge/scheduler";
import type { Simulator } from "@nudge/simulator";
import { createContact, eventually } from "@nudge/testing";
import type { Queue } from "bullmq";
import type { Fleet } from "./fleet";

/**
 * Drip campaigns on a test fleet: a campaign whose every step names itself and the lead in its text, leads enrolled
 * in it, the daily pass run from the test, and the simulator's record read back per lead and step (the ground truth).
 */
export interface DripFleet {
  queue: Queue;
  pass(): ReturnType<typeof runDripPass>;
  /** Runs a pass every `everyMs` until `stop()` is called. */
  keepPassing(everyMs?: number): { stop(): Promise<void> };
  /** Leads `Lead 0001`, ... with unique emails (phones repeat: the fiction range has 100), enrolled in the campaign. */
  enrollLeads(campaignId: string, count: number): Promise<Lead[]>;
  /** Waits until every enrollment has ended (completed or stopped) and no step of theirs is waiting or in flight. */
  allDone(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface Lead {
  contactId: number;
  enrollmentId: number;
  name: string;
  email: string;
}

/** A campaign definition (validated as `nudge campaigns load` would) whose templates name the step and the lead. */
export function namedStepsCampaign(
  id: string,
  steps: Array<{ id: string; channel: "sms" | "email"; delayHours?: number }>,
  version = 1,
  extra: Partial<CampaignDefinition> = {},
): CampaignDefinition {
  return validateCampaign({
    id,
    name: `Campaign ${id}`,
    version,
    stalenessHours: 24,
    ...extra,
    steps: steps.map((s) => ({
      id: s.id,
      channel: s.channel,
      delayHours: s.delayHours ?? 0,
      template: `[${s.id}] for {{name}}`,
      ...(s.channel === "email" && { subject: `[${s.id}] for {{name}}` }),
    })),
  });
}

export async function loadCampaign(db: Db, definition: CampaignDefinition): Promise<void> {
  const loaded = await loadCampaignDefinition(db, definition);
  if (loaded.outcome === "refused") throw new Error(`campaign refused: ${loaded.reason}`);
}

/** Messages the simulator accepted (Twilio and SendGrid), per "step|lead name" read from their text. */
export function sendsPerStep(sim: Simulator): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of sim.records()) {
    if (r.provider === "hubspot") continue;
    const match = /\[([a-z0-9-]+)\] for (Lead \d+)/.exec(r.body) ?? /\[([a-z0-9-]+)\] for (Lead \d+)/.exec(r.subject ?? "");
    if (!match) continue;
    const key = `${match[1]}|${match[2]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

let leadCounter = 0;

export function startDrips(fleet: Fleet, redis: Redis): DripFleet {
  const { db } = fleet;
  const queue = createQueue("drip", redis, fleet.prefix);
  const logger = createLogger("test-drip-pass", "silent");
  const pass = () => runDripPass({ db, queue, redis, logger, batchSize: 500, backoffMs: 200 });
  const passers: Array<{ stop(): Promise<void> }> = [];
  return {
    queue,
    pass,
    keepPassing(everyMs = 250) {
      let stopped = false;
      const loop = (async () => {
        while (!stopped) {
          await pass().catch(() => undefined);
          await new Promise((r) => setTimeout(r, everyMs));
        }
      })();
      const handle = {
        async stop() {
          stopped = true;
          await loop;
        },
      };
      passers.push(handle);
      return handle;
    },
    async enrollLeads(campaignId, count) {
      const one = async (): Promise<Lead> => {
        leadCounter++;
        const name = `Lead ${String(leadCounter).padStart(4, "0")}`;
        const email = `lead${leadCounter}.${process.pid}@example.com`;
        const contact = await createContact(db, { name, email });
        const { enrollment } = await enroll(db, { contactId: contact.id, campaignId });
        return { contactId: contact.id, enrollmentId: enrollment.id, name, email };
      };
      const leads: Lead[] = [];
      // A few at a time: a thousand one by one would take longer than sending them.
      while (leads.length < count) leads.push(...(await Promise.all(Array.from({ length: Math.min(8, count - leads.length) }, one))));
      return leads;
    },
    async allDone(timeoutMs) {
      await eventually(
        "every enrollment ended and every step settled",
        async () => {
          const [open] = await db.$queryRaw<{ n: number }[]>`
            SELECT count(*)::int AS n FROM enrollments WHERE state = 'active' OR awaiting_key IS NOT NULL`;
          const [unsettled] = await db.$queryRaw<{ n: number }[]>`
            SELECT count(*)::int AS n FROM deliveries WHERE kind = 'drip' AND state IN ('pending', 'sending', 'unknown')`;
          if (open!.n === 0 && unsettled!.n === 0) return true;
          // Not yet: say where things stand, which the timeout's message reports.
          const states = await db.$queryRaw<{ what: string; n: number }[]>`
            SELECT 'enrollment ' || state || ' at ' || position || CASE WHEN awaiting_key IS NOT NULL THEN ' awaiting' ELSE '' END
                   || CASE WHEN enqueued THEN ' enqueued' ELSE '' END AS what, count(*)::int AS n
            FROM enrollments GROUP BY 1
            UNION ALL SELECT 'delivery ' || state, count(*)::int FROM deliveries WHERE kind = 'drip' GROUP BY state`;
          throw new Error(states.map((r) => `${r.what}: ${r.n}`).join(", "));
        },
        timeoutMs,
      );
    },
    async close() {
      await Promise.all(passers.map((p) => p.stop()));
      await queue.close();
    },
  };
}
