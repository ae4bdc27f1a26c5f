import {
  AmbiguousSendError,
  type Channel,
  type Clock,
  type CrmGateway,
  type DeliveryState,
  type MessageProvider,
  NotAcceptedError,
  type OutboundMessage,
  PermanentProviderError,
  type ReminderPlan,
  type ReminderStep,
  type SendReceipt,
  maskRecipient,
  dueStep,
  reminderDeadline,
  reminderKey,
  reminderText,
} from "@nudge/core";
import {
  type DeliveryLedger,
  type Db,
  type NewReminderDelivery,
  type ReminderTarget,
  loadReminderTarget,
  recipientFor,
} from "@nudge/db";
import type { Logger } from "@nudge/logger";
import { parsePayload, type ReminderPayload } from "@nudge/queue";
import { type Job, UnrecoverableError } from "bullmq";
import type { FailpointHook } from "./failpoints";

export interface ReminderDeps {
  db: Db;
  ledger: DeliveryLedger;
  providers: Record<Channel, MessageProvider>;
  crm: CrmGateway;
  plan: ReminderPlan;
  clock: Clock;
  logger: Logger;
  failpoint: FailpointHook;
}

export interface ReminderOutcome {
  deliveryId?: number;
  state: DeliveryState;
  reason?: string | null;
}

/**
 * One reminder, in the order that makes a retry harmless at every point:
 *   1. CRM update   absolute values, so repeating it writes the same thing;
 *   2. DB advance   creates the delivery row if absent (unique key);
 *   3. claim        pending -> sending with a new fencing token, in the statement that checks cancel and deadline;
 *   4. send         the one irreversible step, so it comes last;
 *   5. record       only while the token is still ours.
 * A crash before 3 repeats only harmless work; a crash between 3 and 5 leaves `sending`, which the next claimer
 * turns into `unknown` instead of sending again.
 */
export async function processReminder(job: Job, deps: ReminderDeps): Promise<ReminderOutcome> {
  const payload = parseOrReject(job.data);
  const log = deps.logger.child({ jobId: job.id, key: payload.key });
  try {
    return await runPipeline(payload, deps, log);
  } catch (error) {
    if (error instanceof UnrecoverableError || !isLastAttempt(job)) throw error;
    // Out of retries on a failure before the send (CRM or database unreachable): leave a terminal, explained row
    // rather than a pending one that nothing will pick up.
    const reason = `gave up after ${job.attemptsMade + 1} attempts: ${(error as Error).message}`;
    await settleUnsent(payload, deps, reason);
    log.error({ err: error }, "reminder failed for good");
    throw new UnrecoverableError(reason);
  }
}

function parseOrReject(data: unknown): ReminderPayload {
  let payload: ReminderPayload;
  try {
    payload = parsePayload("reminder", data);
  } catch (error) {
    throw new UnrecoverableError((error as Error).message);
  }
  const expected = reminderKey({ appointmentId: payload.appointmentId, startsAt: new Date(payload.startsAt), step: payload.step });
  if (payload.key !== expected) {
    throw new UnrecoverableError(`Invalid reminder payload: key: expected ${expected} for this appointment, start and step, got ${payload.key}`);
  }
  return payload;
}

function isLastAttempt(job: Job): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

async function runPipeline(payload: ReminderPayload, deps: ReminderDeps, log: Logger): Promise<ReminderOutcome> {
  const { ledger } = deps;
  const step = deps.plan.find((s) => s.step === payload.step);
  if (!step) throw new UnrecoverableError(`Invalid reminder payload: step: the reminder plan has no step ${payload.step}`);
  const target = await loadReminderTarget(deps.db, payload.appointmentId);
  if (!target) throw new UnrecoverableError(`Appointment ${payload.appointmentId} does not exist`);
  const startsAt = new Date(payload.startsAt);
  const recipient = recipientFor(step.channel, target.contact);
  const text = reminderText({ name: target.contact.name, startsAt, timezone: target.contact.timezone, channel: step.channel });

  const skipReason = !recipient
    ? `contact ${target.contact.id} has no ${step.channel === "email" ? "email address" : "phone number"}`
    : supersededBy(deps, startsAt, step.step);

  // 1. CRM first: it may fail and be retried any number of times without anyone being messaged. Only for a reminder
  // that is still going out: a stale job must not write an older step over a newer one.
  const stillOn = target.status === "scheduled" && target.startsAt.getTime() === startsAt.getTime();
  if (stillOn && !skipReason && target.contact.hubspotId) {
    await deps.crm.updateContact(target.contact.hubspotId, {
      nudge_next_appointment_at: startsAt.toISOString(),
      nudge_last_reminder_step: String(step.step),
      nudge_last_reminder_channel: step.channel,
    });
  }
  deps.failpoint("after-crm-update");

  // 2. DB advance.
  const delivery = await ledger.advanceReminder(newDelivery(payload, target, step, text.body));
  deps.failpoint("after-db-advance");
  const dlog = log.child({ deliveryId: delivery.id, channel: step.channel });
  if (skipReason || !recipient) {
    const outcome = claimOutcome(delivery.id, await ledger.skip(delivery.id, skipReason ?? "no recipient"));
    dlog.info({ state: outcome.state, reason: outcome.reason }, "not sending");
    return outcome;
  }

  // 3. Claim.
  const claim = await ledger.claim(delivery.id);
  if (claim.kind === "claimed") deps.failpoint("after-claim");
  if (claim.kind !== "claimed") {
    const outcome = claimOutcome(delivery.id, claim);
    dlog.info({ state: outcome.state, reason: outcome.reason }, "not sending");
    return outcome;
  }

  const provider = deps.providers[step.channel];
  const message: OutboundMessage = { deliveryId: delivery.id, channel: step.channel, to: recipient, body: text.body, subject: text.subject };

  // A 5xx on an earlier attempt usually means "not created", but not always: where the channel can look, look.
  if (claim.needsLookup && provider.lookup) {
    let found: SendReceipt | null;
    try {
      found = await provider.lookup(message, new Date(claim.firstClaimedAt.getTime() - 60_000));
    } catch (error) {
      // A lookup sends nothing: whatever went wrong, release the claim so that the retry can look again.
      await ledger.recordNotAccepted(delivery.id, claim.token, `lookup failed: ${(error as Error).message}`, true);
      throw error;
    }
    if (found) {
      await recordWithRetry(() => ledger.recordSent(delivery.id, claim.token, found.providerMessageId), dlog);
      dlog.info({ providerMessageId: found.providerMessageId }, "found the message of an earlier attempt; not sending again");
      return { deliveryId: delivery.id, state: "sent", reason: "found by lookup after a provider 5xx" };
    }
  }

  // 4. Send: the irreversible step.
  let providerMessageId: string;
  try {
    ({ providerMessageId } = await provider.send(message));
  } catch (error) {
    return recordSendError(error, delivery.id, claim.token, deps, dlog);
  }
  deps.failpoint("after-send");

  // 5. Record.
  const recorded = await recordWithRetry(() => ledger.recordSent(delivery.id, claim.token, providerMessageId), dlog);
  if (!recorded) {
    dlog.warn({ providerMessageId }, "sent, but the claim was taken over meanwhile; the delivery's outcome is left to reconciliation");
    return { deliveryId: delivery.id, state: "unknown", reason: "fencing token lost before recording" };
  }
  dlog.info({ to: maskRecipient(recipient), providerMessageId }, "sent");
  return { deliveryId: delivery.id, state: "sent" };
}

/**
 * A job that waited in a backlog until a later step of the same plan became due is superseded: the recipient gets
 * the later, more useful reminder instead of both in a burst.
 */
function supersededBy(deps: ReminderDeps, startsAt: Date, step: number): string | undefined {
  const due = dueStep(deps.plan, startsAt, deps.clock.now());
  return due && due.step > step ? `superseded by step ${due.step}` : undefined;
}

function claimOutcome(deliveryId: number, claim: Exclude<Awaited<ReturnType<DeliveryLedger["claim"]>>, { kind: "claimed" }>): ReminderOutcome {
  switch (claim.kind) {
    case "settled":
      return { deliveryId, state: claim.state, reason: claim.reason };
    case "orphaned":
      return { deliveryId, state: "unknown", reason: "an earlier attempt claimed it and never recorded an outcome" };
    case "cancelled":
      return { deliveryId, state: "cancelled", reason: claim.reason };
    case "skipped":
      return { deliveryId, state: "skipped", reason: claim.reason };
  }
}

async function recordSendError(
  error: unknown,
  deliveryId: number,
  token: number,
  deps: ReminderDeps,
  log: Logger,
): Promise<ReminderOutcome> {
  const { ledger } = deps;
  if (error instanceof NotAcceptedError) {
    // Provably not sent: release the claim and let BullMQ retry (with the provider's Retry-After when given).
    await ledger.recordNotAccepted(deliveryId, token, `not accepted: ${error.message}`, error.needsLookup);
    log.warn({ err: error.message, status: error.status }, "provider did not accept; will retry");
    throw error;
  }
  if (error instanceof PermanentProviderError) {
    const reason = `rejected by provider${error.code !== undefined ? ` (code ${error.code})` : ""}: ${error.message}`;
    await ledger.recordFailed(deliveryId, token, reason);
    log.warn({ code: error.code }, "provider rejected the message");
    return { deliveryId, state: "failed", reason };
  }
  // Ambiguous, or an error the adapter could not classify: the message may exist. Never resend automatically.
  const reason = `outcome unknown: ${(error as Error).message}`;
  await ledger.recordUnknown(deliveryId, token, reason);
  log.warn({ err: (error as Error).message, ambiguous: error instanceof AmbiguousSendError }, "send outcome unknown");
  return { deliveryId, state: "unknown", reason };
}

/** After a send, losing the result to a database blip would turn a clean `sent` into `unknown`: try a few times. */
async function recordWithRetry(record: () => Promise<boolean>, log: Logger): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await record();
    } catch (error) {
      if (attempt >= 5) throw error;
      log.warn({ err: (error as Error).message, attempt }, "recording the send failed; retrying");
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

async function settleUnsent(payload: ReminderPayload, deps: ReminderDeps, reason: string): Promise<void> {
  const existing = await deps.ledger.byKey(payload.key);
  if (existing) {
    await deps.ledger.settlePending(existing.id, "failed", reason);
    return;
  }
  const target = await loadReminderTarget(deps.db, payload.appointmentId);
  const step = deps.plan.find((s) => s.step === payload.step);
  if (!target || !step) return;
  const created = await deps.ledger.advanceReminder(newDelivery(payload, target, step, ""));
  await deps.ledger.settlePending(created.id, "failed", reason);
}

function newDelivery(payload: ReminderPayload, target: ReminderTarget, step: ReminderStep, body: string): NewReminderDelivery {
  const startsAt = new Date(payload.startsAt);
  return {
    idempotencyKey: payload.key,
    contactId: target.contact.id,
    appointmentId: target.appointmentId,
    appointmentStartsAt: startsAt,
    step: step.step,
    channel: step.channel,
    recipient: recipientFor(step.channel, target.contact) ?? "",
    body,
    deadline: reminderDeadline(startsAt),
  };
}
