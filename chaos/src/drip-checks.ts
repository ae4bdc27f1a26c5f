import type { SimRecord } from "@nudge/simulator";
import type { Client } from "pg";
import type { FaultWindow } from "./fault-log";
import { CHAOS_CAMPAIGN, CHAOS_CAMPAIGN_STEPS, DRIP_TEXT } from "./drip-workload";

/**
 * The drip workload's verdict, from the simulator's record: every lead the suite enrolled owes every step of the
 * campaign exactly once. The campaign's staleness is far longer than the run and the suite neither stops an
 * enrollment nor injects a permanent rejection, so nothing excuses a missing step: by the end of the run every step
 * of every lead must have been accepted, once. The ledger is read only for evidence (what became of a missing step).
 */
export interface DripVerdict {
  /** Leads the suite enrolled (each owes every step). */
  enrollments: number;
  stepsOwed: number;
  /** (lead, step) pairs a provider accepted at least once. */
  stepsAccepted: number;
  /** A (lead, step) accepted more than once, whatever the deliveries. */
  duplicates: string[];
  /** A (lead, step) owed and never accepted (a step whose own delivery is still `unknown` is reported with the unknowns). */
  lost: string[];
  /** Drip messages nobody owed: an unknown lead or step, or sent on another channel or to another address than the lead's. */
  strays: string[];
  /** Steps first accepted while a fault, or its aftermath, was active: what the run tested of drips under faults. */
  underFaults: number;
}

interface Lead {
  contactId: number;
  name: string;
  phone: string;
  email: string;
}

const STEP_BY_ID: ReadonlyMap<string, (typeof CHAOS_CAMPAIGN_STEPS)[number]> = new Map(CHAOS_CAMPAIGN_STEPS.map((s) => [s.id, s]));

export async function checkDrips(
  client: Client,
  messagesOut: readonly SimRecord[],
  faultWindows: readonly FaultWindow[],
  enrolledContactIds: readonly number[],
): Promise<DripVerdict> {
  const leads = (
    await client.query<Lead>(`SELECT id AS "contactId", name, phone, email FROM contacts WHERE id = ANY($1::int[]) ORDER BY id`, [enrolledContactIds])
  ).rows;
  const leadByName = new Map(leads.map((l) => [l.name, l]));

  const accepted = new Map<string, SimRecord[]>();
  const strays: string[] = [];
  for (const r of messagesOut) {
    const match = DRIP_TEXT.exec(r.body) ?? DRIP_TEXT.exec(r.subject ?? "");
    if (!match) continue;
    const [, stepId, name] = match as unknown as [string, string, string];
    const step = STEP_BY_ID.get(stepId);
    const lead = leadByName.get(name);
    const what = `${r.provider} ${r.id} to ${r.to} at ${r.at} ("[${stepId}] for ${name}", delivery ${r.deliveryId ?? "none"})`;
    const channel = r.provider === "sendgrid" ? "email" : r.provider === "twilio-sms" ? "sms" : r.provider;
    if (!step) strays.push(`${what}: the campaign has no step ${stepId}`);
    else if (!lead) strays.push(`${what}: ${name} was never enrolled`);
    else if (channel !== step.channel) strays.push(`${what}: step ${stepId} is an ${step.channel} step, not ${channel}`);
    else if (r.to !== (step.channel === "email" ? lead.email : lead.phone)) strays.push(`${what}: not ${name}'s ${step.channel === "email" ? "address" : "phone"}`);
    else {
      const key = `${stepId}|${name}`;
      accepted.set(key, [...(accepted.get(key) ?? []), r]);
    }
  }

  // Evidence for what the simulator shows missing: the enrollment and the step's delivery, as the ledger has them.
  const enrollments = new Map(
    (
      await client.query<{ contactId: number; id: number; state: string; position: number; awaitingKey: string | null; nextDueAt: Date | null; enqueued: boolean }>(
        `SELECT contact_id AS "contactId", id, state::text AS state, position, awaiting_key AS "awaitingKey", next_due_at AS "nextDueAt", enqueued
         FROM enrollments WHERE campaign_id = $1`,
        [CHAOS_CAMPAIGN.id],
      )
    ).rows.map((e) => [e.contactId, e]),
  );
  const deliveries = new Map(
    (
      await client.query<{ key: string; id: number; state: string; reason: string | null }>(
        `SELECT idempotency_key AS key, id, state::text AS state, reason FROM deliveries WHERE source_type = 'enrollment'`,
      )
    ).rows.map((d) => [d.key, d]),
  );

  const verdict: DripVerdict = { enrollments: leads.length, stepsOwed: 0, stepsAccepted: 0, duplicates: [], lost: [], strays, underFaults: 0 };
  for (const lead of leads) {
    const enrollment = enrollments.get(lead.contactId);
    for (const step of CHAOS_CAMPAIGN_STEPS) {
      verdict.stepsOwed++;
      const records = accepted.get(`${step.id}|${lead.name}`) ?? [];
      const key = enrollment ? `drip.enr-${enrollment.id}.step-${step.id}` : undefined;
      if (records.length > 1) {
        verdict.duplicates.push(
          `${key ?? step.id} (${lead.name}) accepted ${records.length} times: ${records.map((r) => `${r.provider} ${r.id} (delivery ${r.deliveryId}) at ${r.at}`).join(", ")}`,
        );
      }
      if (records.length > 0) {
        verdict.stepsAccepted++;
        const at = Math.min(...records.map((r) => Date.parse(r.at)));
        if (faultWindows.some((w) => w.from <= at && at <= w.to)) verdict.underFaults++;
        continue;
      }
      const delivery = key ? deliveries.get(key) : undefined;
      if (delivery?.state === "unknown") continue;
      const ledger = !enrollment
        ? "no enrollment in the ledger"
        : delivery
          ? `delivery ${delivery.id} ${delivery.state}${delivery.reason ? ` (${delivery.reason})` : ""}`
          : `no delivery; enrollment ${enrollment.id} ${enrollment.state} at position ${enrollment.position}, ` +
            `awaiting ${enrollment.awaitingKey ?? "nothing"}, next due ${enrollment.nextDueAt?.toISOString() ?? "never"}, enqueued ${enrollment.enqueued}`;
      verdict.lost.push(`${key ?? step.id} (${lead.name}): never accepted; ${ledger}`);
    }
  }
  return verdict;
}
