import {
  advanceEnrollment,
  contactVars,
  DripStepNotWanted,
  loadDripTarget,
  nextSendTime,
  render,
  stopEnrollments,
  TemplateRenderError,
} from "@nudge/campaigns";
import { type CrmGateway, dripKey } from "@nudge/core";
import { type Db, DeliveryLedger, saveContactCrmId } from "@nudge/db";
import type { DripPayload } from "@nudge/queue";
import type { DeliveryOutcome, GuardedMessage, SendGuard } from "@nudge/send-guard";
import { UnrecoverableError } from "bullmq";

const HOUR = 3_600_000;

/** What `{{unsubscribeHint}}` says: how this lead stops the campaign on this channel (each way is a stop condition). */
export const UNSUBSCRIBE_HINTS = {
  sms: "Reply STOP to opt out.",
  email: "Reply to this email, or unsubscribe, and we will stop writing.",
} as const;

export interface DripDeps {
  db: Db;
  guard: SendGuard;
  crm: CrmGateway;
  /**
   * Stop a lead's enrollment, at the CRM step, once sales has moved its HubSpot lifecycle stage past this one (e.g.
   * `opportunity`): such a lead is theirs now. Undefined: the stage is not read.
   */
  stopAtLifecycleStage?: string | undefined;
}

/** What a drip job did: the step's delivery outcome, or why there was nothing to send. */
export type DripOutcome = DeliveryOutcome | { state: "not-wanted"; reason: string };

/** The step's send window is closed now: the job comes back when it opens (a delayed retry, not a failure). */
export class DripStepNotDue extends Error {
  constructor(
    readonly notBefore: Date,
    readonly retryAfterMs: number,
  ) {
    super(`not due until ${notBefore.toISOString()} (its send window)`);
    this.name = "DripStepNotDue";
  }
}

/**
 * One drip step, on the send guard like every message: the CRM step first (the contact found or created by email,
 * then absolute properties: campaign, step, when it was due), then one transaction that advances the enrollment and
 * creates the step's delivery, then the guard's claim, send and record. A crash anywhere repeats only harmless work:
 * before the advance, the step is taken from the top; after it, the delivery is found by its key and sent through
 * the same claim. The next step is due only when this one's delivery settles (the ledger's settle hook).
 */
export async function processDripStep(payload: DripPayload, deps: DripDeps): Promise<DripOutcome> {
  const expected = dripKey({ enrollmentId: payload.enrollmentId, stepId: payload.stepId });
  if (payload.key !== expected) {
    throw new UnrecoverableError(`Invalid drip payload: key: expected ${expected} for this enrollment and step, got ${payload.key}`);
  }
  const target = await loadDripTarget(deps.db, payload.enrollmentId);
  if (!target) throw new UnrecoverableError(`Enrollment ${payload.enrollmentId} does not exist`);
  const { enrollment, contact, now } = target;

  if (enrollment.doneStepIds.includes(payload.stepId)) {
    // An earlier attempt advanced the enrollment and created the delivery: send that one (the claim decides).
    const delivery = await new DeliveryLedger(deps.db).byKey(payload.key);
    if (!delivery) throw new Error(`Enrollment ${enrollment.id} has passed step ${payload.stepId} but its delivery ${payload.key} does not exist`);
    return deps.guard.redeliver(delivery.id);
  }
  if (enrollment.state === "stopped") return { state: "not-wanted", reason: `enrollment stopped: ${enrollment.stopReason}` };
  const step = target.steps[enrollment.position];
  if (enrollment.state !== "active" || step?.id !== payload.stepId || enrollment.awaitingKey !== null || enrollment.nextDueAt === null) {
    return { state: "not-wanted", reason: `step ${payload.stepId} is not the enrollment's to send now (${enrollment.state}, next step ${step?.id ?? "none"})` };
  }

  // Due: its due time, moved into its send window in the lead's time zone. The window is checked here, at the send,
  // because a step whose predecessor settled late is due its delay after that settle, at any hour.
  const dueAt = nextSendTime(enrollment.nextDueAt, step.sendWindow ?? undefined, contact.timezone, enrollment.timezoneFallback);
  if (dueAt.getTime() > now.getTime() + 1_000) throw new DripStepNotDue(dueAt, dueAt.getTime() - now.getTime());

  let body: string;
  try {
    const vars = { ...contactVars(contact), campaignName: target.enrollment.campaignName, unsubscribeHint: UNSUBSCRIBE_HINTS[step.channel] };
    body = render(step.template, vars);
  } catch (error) {
    if (!(error instanceof TemplateRenderError)) throw error;
    // This lead's message cannot be written: stop this enrollment with the reason (no later step would fare better)
    // and fail the job, without touching anyone else's.
    const reason = `step ${step.id} cannot be rendered for contact ${contact.id}: ${error.message}`;
    await stopEnrollments(deps.db, { enrollmentIds: [enrollment.id] }, reason);
    throw new UnrecoverableError(reason);
  }

  const recipient = step.channel === "email" ? contact.email : contact.phone;
  const message: GuardedMessage = {
    idempotencyKey: payload.key,
    kind: "drip",
    source: { type: "enrollment", id: enrollment.id, at: dueAt },
    contactId: contact.id,
    step: enrollment.position + 1,
    channel: step.channel,
    recipient: recipient ?? "",
    subject: step.channel === "email" ? (step.subject ?? undefined) : undefined,
    body,
    // Staleness: a step that could not go out within the limit is skipped rather than sent late.
    deadline: new Date(dueAt.getTime() + enrollment.stalenessHours * HOUR),
  };

  try {
    return await deps.guard.deliver(message, {
      skipReason: recipient ? undefined : `contact ${contact.id} has no ${step.channel === "email" ? "email address" : "phone number"}`,
      crm: async () => {
        const crmId = await deps.crm.upsertContact(
          { contactId: contact.id, crmId: contact.hubspotId, name: contact.name, email: contact.email, phone: contact.phone },
          {
            // Absolute values derived from the step and its due time, never from the clock at write time: a retry
            // writes the same thing, and a late retry never claims a later moment than the step's.
            nudge_campaign: enrollment.campaignId,
            nudge_campaign_step: step.id,
            nudge_campaign_step_at: dueAt.toISOString(),
          },
        );
        if (crmId !== contact.hubspotId) await saveContactCrmId(deps.db, contact.id, crmId);
        if (deps.stopAtLifecycleStage && deps.crm.lifecycleStage) {
          const stage = await deps.crm.lifecycleStage(crmId);
          if (stage !== undefined && isPastStage(stage, deps.stopAtLifecycleStage)) {
            await stopEnrollments(deps.db, { enrollmentIds: [enrollment.id] }, `HubSpot lifecycle stage is ${stage}, past ${deps.stopAtLifecycleStage}`);
          }
        }
      },
      prepare: (q) =>
        advanceEnrollment(q, {
          enrollmentId: enrollment.id,
          stepId: step.id,
          key: payload.key,
          dueAt,
          timezone: contact.timezone,
          timezoneFallback: enrollment.timezoneFallback,
        }),
    });
  } catch (error) {
    if (error instanceof DripStepNotWanted) return { state: "not-wanted", reason: error.message };
    throw error;
  }
}

/** HubSpot's default lifecycle stages, in order. A custom stage (not listed) never counts as past. */
export const LIFECYCLE_STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist"] as const;

function isPastStage(stage: string, limit: string): boolean {
  const at = LIFECYCLE_STAGES.indexOf(stage as (typeof LIFECYCLE_STAGES)[number]);
  const max = LIFECYCLE_STAGES.indexOf(limit as (typeof LIFECYCLE_STAGES)[number]);
  return at >= 0 && max >= 0 && at > max;
}
