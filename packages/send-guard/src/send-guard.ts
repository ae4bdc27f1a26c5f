import {
  AmbiguousSendError,
  ClaimHeldError,
  type DeliveryState,
  type MessageProvider,
  NotAcceptedError,
  type OutboundMessage,
  PermanentProviderError,
  maskRecipient,
} from "@nudge/core";
import { ClaimLedger, type Db, type DeliveryRecord, DeliveryLedger, type NewDelivery, type Queryable } from "@nudge/db";
import type { Logger } from "@nudge/logger";
import { createMessageProviders, type MessageProviders, type ProvidersConfig } from "@nudge/providers";
import { type FailpointHook, noFailpoints } from "./failpoints";
import { Reconciler, type ReconcilerOptions } from "./reconciler";

/** A message as its kind built it: what to send, to whom, for which source, until when. */
export type GuardedMessage = NewDelivery;

export interface DeliveryOutcome {
  deliveryId: number;
  state: DeliveryState;
  reason?: string | null;
}

export interface DeliverSteps {
  /**
   * The kind's CRM step: absolute values only, run before anything is created or claimed, so that a failure there
   * is retried without anyone being messaged. Omit it when there is nothing to write (e.g. a stale job).
   */
  crm?: () => Promise<void>;
  /** Settle the message as `skipped` with this reason instead of sending it (no address, superseded). */
  skipReason?: string | undefined;
  /**
   * The kind's own bookkeeping, in one transaction with the delivery's creation and before it (a drip step
   * advances its enrollment here, locking it first). Runs only when the CRM step has succeeded; when it throws,
   * nothing is created and the error reaches the caller. It must be a no-op once it has committed (a retry runs it
   * again: the delivery is then found by its key).
   */
  prepare?: (q: Queryable) => Promise<void>;
}

export interface SendGuardOptions {
  db: Db;
  /** The sending channels' configuration: the guard makes its providers itself, so nothing else holds one. */
  providers: Pick<ProvidersConfig, "twilio" | "sendgrid">;
  /** How long a claim lasts: covers a lookup, the send and the record's retries. See leaseFor. */
  leaseMs: number;
  /** The providers' timeout: no call starts with less lease left than this plus the record's budget. */
  providerTimeoutMs: number;
  /**
   * How far a provider's list may lag behind the messages it holds: after a send answered 5xx, "not in the list" is
   * believed only this long after that answer (before, the attempt gives the claim back and comes again). Default 10 s.
   */
  lookupSettleMs?: number;
  logger: Logger;
  failpoint?: FailpointHook;
  /** Called once this guard has settled a delivery (sent, failed, skipped, cancelled, unknown or undelivered). */
  onSettled?: (outcome: DeliveryOutcome, delivery: DeliveryRecord) => Promise<void>;
}

/** What recording an outcome may take, retries included (see recordWithRetry). */
export const RECORD_BUDGET_MS = 5_000;

/** The default lease: a lookup and a send at the provider timeout each, the record's budget, and slack. */
export function leaseFor(providerTimeoutMs: number): number {
  return 2 * providerTimeoutMs + RECORD_BUDGET_MS + 5_000;
}

/** How far a provider's list may lag behind the messages it holds, unless configured. */
const DEFAULT_LOOKUP_SETTLE_MS = 10_000;

/** Room for the claim's own round trip and the gap between the check and the call. */
const CLAIM_SLACK_MS = 1_000;

/**
 * The shortest lease that still lets one provider call (a lookup or a send) start, finish and be recorded inside
 * it. Each call is checked against the lease left before it starts; a lease shorter than this would refuse every one.
 */
export function minimumLease(providerTimeoutMs: number): number {
  return providerTimeoutMs + RECORD_BUDGET_MS + CLAIM_SLACK_MS;
}

/**
 * The one send guard. Every message, whatever produced it, goes through `deliver`:
 *   1. the kind's CRM step   absolute values, so repeating it writes the same thing;
 *   2. create                the delivery row if absent (unique idempotency key);
 *   3. claim                 pending -> sending with a new fencing token and a lease on the database's clock, in the
 *                            statement that checks the source still wants it, the suppression list and the deadline;
 *   4. look, then send       after a 5xx, look the message up first; no call starts on a lease too short to finish it;
 *   5. record                only while the token is still ours.
 * A crash before 3 repeats only harmless work. A crash between 3 and 5 leaves `sending`: a later attempt waits for
 * the lease to end and then makes it `unknown`, never `pending`. Retryable failures are retried until the message's
 * deadline, not for a count of attempts; past it the message ends `skipped` with the last error as its reason.
 */
export class SendGuard {
  private readonly ledger: DeliveryLedger;
  private readonly claims: ClaimLedger;
  private readonly providers: MessageProviders;
  private readonly failpoint: FailpointHook;

  constructor(private readonly options: SendGuardOptions) {
    if (options.leaseMs < minimumLease(options.providerTimeoutMs)) {
      throw new RangeError(
        `The send lease (${options.leaseMs} ms) must be at least the provider timeout plus ${RECORD_BUDGET_MS + CLAIM_SLACK_MS} ms ` +
          `(${minimumLease(options.providerTimeoutMs)} ms): raise SEND_LEASE_MS or lower PROVIDER_TIMEOUT_MS`,
      );
    }
    this.ledger = new DeliveryLedger(options.db);
    this.claims = new ClaimLedger(options.db);
    this.providers = createMessageProviders(options.providers);
    this.failpoint = options.failpoint ?? noFailpoints;
  }

  /**
   * Delivers one message, at most once. Returns the delivery's outcome; throws only what the caller should retry
   * (the job's backoff honours `retryAfterMs`), and only while the deadline is ahead.
   */
  async deliver(message: GuardedMessage, steps: DeliverSteps = {}): Promise<DeliveryOutcome> {
    const log = this.options.logger.child({ key: message.idempotencyKey, channel: message.channel });
    try {
      return await this.protocol(message, steps, log);
    } catch (error) {
      if (error instanceof PermanentProviderError) {
        // A rejection before the send (the CRM refusing this contact): final for this message, and only for it.
        const reason = `rejected before sending: ${error.message}`;
        log.warn({ err: error.message }, "message rejected before sending; not retrying");
        return this.settled(await this.ledger.settleUnclaimed(message, "failed", reason, steps.prepare));
      }
      const timeLeftMs = await this.timeLeft(message);
      if (timeLeftMs !== undefined && timeLeftMs <= 0) {
        const reason = `past its deadline ${message.deadline.toISOString()} (last attempt: ${(error as Error).message})`;
        log.warn({ err: (error as Error).message }, "giving up: the message's deadline has passed");
        return this.giveUp(message, reason, steps.prepare);
      }
      // The next attempt must come while it can still help: however long the backoff has grown over earlier
      // failures, retry within a third of the time left, so that a message keeps a few chances before its deadline.
      if (timeLeftMs !== undefined && error instanceof Error) {
        Object.assign(error, { retryWithinMs: Math.max(100, Math.floor(timeLeftMs / 3)) });
      }
      throw error;
    }
  }

  private async protocol(message: GuardedMessage, steps: DeliverSteps, log: Logger): Promise<DeliveryOutcome> {
    if (steps.crm && steps.skipReason === undefined) await steps.crm();
    await this.failpoint("after-crm-update");

    const delivery = steps.prepare ? await this.ledger.createWith(message, steps.prepare) : await this.ledger.create(message);
    await this.failpoint("after-db-advance");
    return this.claimAndSend(delivery, steps.skipReason, log.child({ deliveryId: delivery.id }));
  }

  /**
   * Sends an existing delivery again once the reconciler has confirmed that the provider never had it (it is
   * `pending` again): the same claim, lookup, send and record as any message. Throws what a retry should retry.
   */
  async redeliver(deliveryId: number): Promise<DeliveryOutcome> {
    const delivery = await this.ledger.byId(deliveryId);
    if (!delivery) throw new Error(`delivery ${deliveryId} does not exist`);
    const log = this.options.logger.child({ key: delivery.idempotencyKey, channel: delivery.channel, deliveryId, redeliver: true });
    return this.claimAndSend(delivery, undefined, log);
  }

  /** The reconciler of `unknown` deliveries, sending what it must send again through this guard. */
  reconciler(options: ReconcilerOptions): Reconciler {
    return new Reconciler(this.claims, this.providers, (id) => this.redeliver(id), options);
  }

  /** Steps 3 to 5 of the protocol for a delivery that exists. */
  private async claimAndSend(delivery: DeliveryRecord, skipReason: string | undefined, dlog: Logger): Promise<DeliveryOutcome> {
    await this.failpoint("before-claim");
    const claimStarted = performance.now();
    const claim = await this.claims.claimDelivery(delivery.id, this.options.leaseMs, skipReason);
    if (claim.kind === "leased") {
      dlog.info({ retryInMs: claim.retryInMs }, "another attempt holds the claim; waiting for its lease to end");
      throw new ClaimHeldError(delivery.id, claim.retryInMs + 250);
    }
    if (claim.kind !== "claimed") {
      const outcome: DeliveryOutcome =
        claim.kind === "settled" ? { deliveryId: delivery.id, state: claim.state, reason: claim.reason } : { deliveryId: delivery.id, state: stateOf(claim.kind), reason: claim.reason };
      dlog.info({ state: outcome.state, reason: outcome.reason }, "not sending");
      return claim.kind === "settled" ? outcome : this.notify(outcome, delivery);
    }
    await this.failpoint("after-claim");

    const { token } = claim;
    // The lease is measured from before the claim was sent, on this process's monotonic clock (which keeps running
    // while the process is stopped): never more than the database granted.
    const leaseLeft = () => claim.leaseMs - (performance.now() - claimStarted);
    const provider = this.providers[delivery.channel];
    const outbound: OutboundMessage = {
      deliveryId: delivery.id,
      channel: delivery.channel,
      to: delivery.recipient,
      body: delivery.body,
      ...(delivery.subject !== null && { subject: delivery.subject }),
    };

    if (claim.needsLookup && provider.lookup) {
      const found = await this.lookUp(provider.lookup.bind(provider), outbound, delivery, claim.firstClaimedAt, token, leaseLeft, dlog);
      if (found) return found;
    }

    // 4. Send: the irreversible step. Not on a lease that may run out before the answer: a stalled or starved
    // process resuming here must not send on a claim that someone else may already have judged abandoned.
    await this.assertLeaseLeft(leaseLeft, delivery.id, token);
    let providerMessageId: string;
    try {
      ({ providerMessageId } = await provider.send(outbound));
    } catch (error) {
      return this.recordSendError(error, delivery, token, dlog);
    }
    await this.failpoint("after-send");

    // 5. Record.
    const recorded = await recordWithRetry(() => this.claims.recordSent(delivery.id, token, providerMessageId), dlog);
    if (!recorded) {
      dlog.warn({ providerMessageId }, "sent, but the claim was taken over meanwhile; its outcome is left to reconciliation");
      return { deliveryId: delivery.id, state: "unknown", reason: "the claim expired before the send was recorded" };
    }
    dlog.info({ to: maskRecipient(delivery.recipient), providerMessageId }, "sent");
    return this.notify({ deliveryId: delivery.id, state: "sent" }, delivery);
  }

  /**
   * After a 5xx the message may exist: look before sending again. Returns the outcome when the lookup settles the
   * delivery, undefined when the message is provably absent and may be sent.
   */
  private async lookUp(
    lookup: NonNullable<MessageProvider["lookup"]>,
    outbound: OutboundMessage,
    delivery: DeliveryRecord,
    firstClaimedAt: Date,
    token: number,
    leaseLeft: () => number,
    log: Logger,
  ): Promise<DeliveryOutcome | undefined> {
    await this.assertLeaseLeft(leaseLeft, delivery.id, token);
    // A minute before the first claim, by the database's clock: the provider's clock may differ a little.
    const since = new Date(firstClaimedAt.getTime() - 60_000);
    let result;
    try {
      result = await lookup(outbound, since);
    } catch (error) {
      // A lookup sends nothing: release the claim so that the retry can look again.
      await this.claims.recordNotAccepted(delivery.id, token, `lookup failed: ${(error as Error).message}`, true);
      throw error;
    }
    if (result.kind === "absent") {
      await this.assertListSettled(delivery.id, token, log);
      return undefined;
    }
    let providerMessageId: string | undefined;
    if (result.kind === "found") providerMessageId = result.providerMessageId;
    else if (result.candidates.length === 1 && (await this.claims.otherClaimsTo(delivery.id, delivery.channel, delivery.recipient, since)) === 0) {
      // One message to this recipient in the window and no other delivery that could have made it: ours.
      providerMessageId = result.candidates[0];
    }
    if (providerMessageId === undefined) {
      const reason = `after a provider 5xx, ${result.kind === "unattributable" ? result.candidates.length : "some"} message(s) to this recipient exist that may be this one; not sending again`;
      await recordWithRetry(() => this.claims.recordUnknown(delivery.id, token, reason), log);
      log.warn({ candidates: result.kind === "unattributable" ? result.candidates : [] }, "lookup could not attribute; outcome unknown");
      return this.notify({ deliveryId: delivery.id, state: "unknown", reason }, delivery);
    }
    await recordWithRetry(() => this.claims.recordSent(delivery.id, token, providerMessageId, "found by lookup after a provider 5xx"), log);
    log.info({ providerMessageId }, "found the message of an earlier attempt; not sending again");
    return this.notify({ deliveryId: delivery.id, state: "sent", reason: "found by lookup after a provider 5xx" }, delivery);
  }

  /**
   * A list that lags may not show yet a message the 5xx'd send created a moment ago: until the lag has passed since
   * that answer, give the claim back (the lookup stays due) and come again when it has.
   */
  private async assertListSettled(deliveryId: number, token: number, log: Logger): Promise<void> {
    const settleMs = this.options.lookupSettleMs ?? DEFAULT_LOOKUP_SETTLE_MS;
    const since = await this.claims.msSinceLookupNeeded(deliveryId);
    if (since === undefined || since >= settleMs) return;
    const waitMs = settleMs - since;
    const reason = `not in the provider's list ${since} ms after a 5xx; its list may lag, so looking again in ${waitMs} ms before any resend`;
    await recordWithRetry(() => this.claims.recordNotAccepted(deliveryId, token, reason, true), log);
    log.info({ waitMs }, "lookup too early to trust; looking again later");
    throw new NotAcceptedError(reason, { retryAfterMs: waitMs, needsLookup: true });
  }

  /** Gives the claim back, provably unsent, when a provider call and its record could no longer finish inside it. */
  private async assertLeaseLeft(leaseLeft: () => number, deliveryId: number, token: number): Promise<void> {
    const needed = this.options.providerTimeoutMs + RECORD_BUDGET_MS;
    const left = leaseLeft();
    if (left >= needed) return;
    const reason = `claim released unsent: ${Math.max(0, Math.round(left))} ms of lease left, ${needed} ms needed to call the provider and record`;
    const released = await this.claims.releaseClaim(deliveryId, token, reason);
    // Not released: the claim was already taken over (the row is `unknown` with a newer token). Sending nothing is
    // what matters either way.
    this.options.logger.warn({ deliveryId, leaseLeftMs: Math.round(left), released }, "claim released unsent: too little lease left to call the provider");
    throw new NotAcceptedError(reason);
  }

  private async recordSendError(error: unknown, delivery: DeliveryRecord, token: number, log: Logger): Promise<DeliveryOutcome> {
    if (error instanceof NotAcceptedError) {
      // Provably not sent: release the claim and let the job retry (with the provider's Retry-After when given).
      await recordWithRetry(
        () => this.claims.recordNotAccepted(delivery.id, token, `not accepted: ${error.message}`, error.needsLookup, { afterSend: true }),
        log,
      );
      log.warn({ err: error.message, status: error.status }, "provider did not accept; will retry");
      throw error;
    }
    if (error instanceof PermanentProviderError) {
      const reason = `rejected by provider${error.code !== undefined ? ` (code ${error.code})` : ""}: ${error.message}`;
      await recordWithRetry(() => this.claims.recordFailed(delivery.id, token, reason), log);
      log.warn({ code: error.code }, "provider rejected the message");
      return this.notify({ deliveryId: delivery.id, state: "failed", reason }, delivery);
    }
    // Ambiguous, or an error the adapter could not classify: the message may exist. Never resend automatically.
    const reason = `outcome unknown: ${(error as Error).message}`;
    await recordWithRetry(() => this.claims.recordUnknown(delivery.id, token, reason), log);
    log.warn({ err: (error as Error).message, ambiguous: error instanceof AmbiguousSendError }, "send outcome unknown");
    return this.notify({ deliveryId: delivery.id, state: "unknown", reason }, delivery);
  }

  /** Milliseconds until the message's deadline by the database's clock; undefined when the database is down. */
  private async timeLeft(message: GuardedMessage): Promise<number | undefined> {
    try {
      return message.deadline.getTime() - (await this.ledger.now()).getTime();
    } catch {
      return undefined; // the database is down: the retry will ask again
    }
  }

  /** Past the deadline: the claim statement settles a waiting delivery (skipped, or unknown after a 5xx). */
  private async giveUp(message: GuardedMessage, reason: string, prepare: DeliverSteps["prepare"]): Promise<DeliveryOutcome> {
    const delivery = prepare ? await this.ledger.createWith(message, prepare) : await this.ledger.create(message);
    const claim = await this.claims.claimDelivery(delivery.id, this.options.leaseMs, reason);
    switch (claim.kind) {
      case "claimed": // cannot happen with a skip reason; release to be safe
        await this.claims.releaseClaim(delivery.id, claim.token, reason);
        throw new Error(`Delivery ${delivery.id} was claimed while giving up`);
      case "leased":
        // Someone else is sending it: their record settles it, or the scheduler does once their lease ends.
        return { deliveryId: delivery.id, state: "sending", reason: "claimed by another attempt" };
      case "settled":
        return { deliveryId: delivery.id, state: claim.state, reason: claim.reason };
      default:
        return this.notify({ deliveryId: delivery.id, state: stateOf(claim.kind), reason: claim.reason }, delivery);
    }
  }

  private async settled(delivery: DeliveryRecord): Promise<DeliveryOutcome> {
    return this.notify({ deliveryId: delivery.id, state: delivery.state, reason: delivery.reason }, delivery);
  }

  private async notify(outcome: DeliveryOutcome, delivery: DeliveryRecord): Promise<DeliveryOutcome> {
    if (this.options.onSettled) await this.options.onSettled(outcome, delivery);
    return outcome;
  }
}

function stateOf(kind: "orphaned" | "cancelled" | "skipped" | "unknown"): DeliveryState {
  return kind === "orphaned" ? "unknown" : kind;
}

/** After a send, losing the result to a database blip would turn a clean `sent` into `unknown`: try a few times. */
async function recordWithRetry(record: () => Promise<boolean>, log: Logger): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await record();
    } catch (error) {
      if (attempt >= 5) throw error;
      log.warn({ err: (error as Error).message, attempt }, "recording the outcome failed; retrying");
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}
