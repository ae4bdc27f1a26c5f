import type { Channel, OutboundMessage } from "@nudge/core";
import type { ClaimLedger, UnresolvedDelivery } from "@nudge/db";
import type { Logger } from "@nudge/logger";
import type { MessageProviders } from "@nudge/providers";
import type { DeliveryOutcome } from "./send-guard";

/**
 * What to do with an `unknown` message on a channel where nothing can tell whether the provider has it:
 * - `resend`: send it again once (errs towards a duplicate);
 * - `give-up`: end it `failed` (errs towards a loss; a reminder plan's next step still goes out);
 * - `operator`: leave it `unknown`, flagged for a person to decide on the dashboard.
 */
export type NoEvidencePolicy = "resend" | "give-up" | "operator";

export interface ReconcilerOptions {
  /**
   * How long after a delivery became `unknown` the provider's list is trusted to show the message if it exists:
   * the provider's timeout (a request still in flight when the claim ended) plus the list's lag. Default 60 s.
   */
  settleMs: number;
  /**
   * Email has no list: its evidence is the SendGrid Event Webhook (`processed` arrives within seconds of accepting).
   * `eventWebhook: true` means it is configured, so that no event for `emailSettleMs` means SendGrid never had the
   * email; otherwise `emailPolicy` decides.
   */
  email: { eventWebhook: boolean; settleMs: number; policy: NoEvidencePolicy };
  /** How many times one delivery may be sent again after a confirmed "never accepted". Default 1. */
  maxResends?: number;
  /** Deliveries looked at per pass. Default 200. */
  batchSize?: number;
  logger: Logger;
}

export interface ReconcileCounts {
  /** The provider has the message: `sent` (or `undelivered`, where it reported so). */
  confirmed: number;
  /** Confirmed never accepted and sent again through the claim (the outcome of that send counts here too). */
  resent: number;
  /** Confirmed never accepted, and a later step of the same source has replaced it: `skipped`, not sent late. */
  superseded: number;
  /** Ended `failed` by the email policy `give-up`. */
  gaveUp: number;
  /** Waiting for an operator. */
  toOperator: number;
  /** Looked at, but not decidable yet or the provider failed to answer: looked at again next pass. */
  deferred: number;
}

type Decision =
  | { kind: "confirmed"; providerMessageId: string; why: string }
  | { kind: "from-report" }
  | { kind: "never-accepted"; why: string }
  | { kind: "operator"; why: string }
  | { kind: "give-up"; why: string };

/**
 * Resolves every `unknown` delivery, as an outsider would: from what the provider has, never from Nudge's own guess.
 *   1. A report the provider sent while the message was in flight (a status callback, an event) settles it.
 *   2. SMS: the provider's message list, filtered by recipient and sender, matched on the stored body.
 *   3. Calls: the call list keeps neither body nor delivery id, so a call is ours only when it is the one call to that
 *      number in the window that no other delivery owns and no other delivery to that number was claimed; none
 *      means never accepted; otherwise an operator decides.
 *   4. Email: the Event Webhook's reports (step 1); then the Email Activity API where the account has it (looked up
 *      by delivery id, like a list); else, with the Event Webhook configured and silent, never accepted (which is
 *      only as sound as the webhook's delivery: a lost event makes a duplicate); without either, the channel's policy.
 * Nothing is concluded before `settleMs` has passed since the delivery became unknown (the lease had already ended
 * then), so that a message that shows up late in a list is not sent again. "Never accepted" reopens the delivery and
 * sends it through the same claim as any message (which checks cancel, opt-outs and the deadline again), at most
 * `maxResends` times.
 */
export class Reconciler {
  private readonly maxResends: number;
  private readonly batchSize: number;

  constructor(
    private readonly claims: ClaimLedger,
    private readonly providers: MessageProviders,
    private readonly redeliver: (deliveryId: number) => Promise<DeliveryOutcome>,
    private readonly options: ReconcilerOptions,
  ) {
    this.maxResends = options.maxResends ?? 1;
    this.batchSize = options.batchSize ?? 200;
  }

  /** One pass over what is unresolved now. Errors on one delivery are logged and leave it for the next pass. */
  async runOnce(): Promise<ReconcileCounts> {
    const counts: ReconcileCounts = { confirmed: 0, resent: 0, superseded: 0, gaveUp: 0, toOperator: 0, deferred: 0 };
    const rows = await this.claims.unresolved(this.options.settleMs, this.options.email.settleMs, this.batchSize);
    const queue = [...rows];
    // A few at a time: each may call the provider.
    const lanes = Array.from({ length: Math.min(8, queue.length) }, async () => {
      for (let row = queue.shift(); row; row = queue.shift()) {
        try {
          counts[await this.resolve(row)]++;
        } catch (error) {
          counts.deferred++;
          this.options.logger.warn({ deliveryId: row.id, err: (error as Error).message }, "could not resolve yet; will look again");
        }
      }
    });
    await Promise.all(lanes);
    if (rows.length > 0) this.options.logger.info({ ...counts, looked: rows.length }, "reconcile pass done");
    return counts;
  }

  private async resolve(row: UnresolvedDelivery): Promise<keyof ReconcileCounts> {
    const log = this.options.logger.child({ deliveryId: row.id, channel: row.channel });
    if (row.state === "pending") return this.resend(row, "the earlier resend was not accepted; sending again", log, false);
    const decision = await this.decide(row);
    switch (decision.kind) {
      case "from-report":
        return (await this.claims.resolveFromReport(row.id)) ? "confirmed" : "deferred";
      case "confirmed":
        log.info({ providerMessageId: decision.providerMessageId }, "the provider has the message");
        return (await this.claims.resolveSent(row.id, decision.providerMessageId, decision.why)) ? "confirmed" : "deferred";
      case "never-accepted":
        return this.resend(row, decision.why, log, true);
      case "give-up":
        log.warn({ why: decision.why }, "giving up on an unknown message (policy)");
        return (await this.claims.giveUpUnknown(row.id, decision.why)) ? "gaveUp" : "deferred";
      case "operator":
        log.warn({ why: decision.why }, "an operator must decide");
        return (await this.claims.awaitOperator(row.id, decision.why)) ? "toOperator" : "deferred";
    }
  }

  private async decide(row: UnresolvedDelivery): Promise<Decision> {
    if (row.providerOutcome !== null) return { kind: "from-report" };
    const outbound: OutboundMessage = {
      deliveryId: row.id,
      channel: row.channel,
      to: row.recipient,
      body: row.body,
      ...(row.subject !== null && { subject: row.subject }),
    };
    // A minute before the first claim, by the database's clock: the provider's clock may differ a little.
    const since = new Date((row.firstClaimedAt ?? row.updatedAt).getTime() - 60_000);
    if (row.channel === "email" && !this.providers.email.lookup) {
      if (this.options.email.eventWebhook) return { kind: "never-accepted", why: "SendGrid reported no event for it: it never had the email" };
      const why = "no evidence source for email (the Event Webhook is off)";
      const policy = this.options.email.policy;
      return policy === "resend" ? { kind: "never-accepted", why: `${why}; policy resend` } : policy === "give-up" ? { kind: "give-up", why: `${why}; policy give-up` } : { kind: "operator", why };
    }
    const lookup = this.providers[row.channel].lookup;
    if (!lookup) return { kind: "operator", why: `no lookup for ${row.channel}` };
    const found = await lookup.call(this.providers[row.channel], outbound, since);
    if (found.kind === "found") return { kind: "confirmed", providerMessageId: found.providerMessageId, why: "found in the provider's list" };
    if (found.kind === "absent") return { kind: "never-accepted", why: "not in the provider's list: it never had the message" };
    return this.attributeCall(row, found.candidates, since);
  }

  private async attributeCall(row: UnresolvedDelivery, candidates: readonly string[], since: Date): Promise<Decision> {
    const owned = await this.claims.ownedMessageIds(candidates, row.id);
    const free = candidates.filter((sid) => !owned.has(sid));
    if (free.length === 0) return { kind: "never-accepted", why: "every call to this number in the window belongs to another delivery" };
    if (free.length === 1 && (await this.claims.otherClaimsTo(row.id, row.channel as Channel, row.recipient, since)) === 0) {
      return { kind: "confirmed", providerMessageId: free[0]!, why: "the one call to this number in the window" };
    }
    return {
      kind: "operator",
      why: `${free.length} call(s) to this number in the window that no delivery owns, and no status callback for this one: cannot tell which`,
    };
  }

  private async resend(row: UnresolvedDelivery, why: string, log: Logger, reopen: boolean): Promise<keyof ReconcileCounts> {
    if (reopen) {
      const reopened = await this.claims.reopenUnknown(row.id, why, this.maxResends);
      if (reopened === "superseded") {
        log.info({ why }, "the provider never had it, and a later step has replaced it: skipped, not sent late");
        return "superseded";
      }
      if (reopened === undefined) {
        // Sent again as often as allowed already, or a report arrived meanwhile: a person decides.
        const reason = `${why}, but it was already sent again ${row.resends} time(s)`;
        return (await this.claims.awaitOperator(row.id, reason)) ? "toOperator" : "deferred";
      }
    }
    log.info({ why }, "the provider never had the message; sending it again through the claim");
    const outcome = await this.redeliver(row.id);
    log.info({ state: outcome.state, reason: outcome.reason }, "resent");
    return "resent";
  }
}
