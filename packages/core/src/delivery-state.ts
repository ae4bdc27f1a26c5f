/**
 * The delivery state machine. A delivery is created `pending`; a worker claims it (`sending`, new fencing token)
 * right before the provider call and records the outcome only while it still holds the token.
 *
 *   pending --claim--> sending --accepted--> sent
 *      |                  |----rejected----> failed
 *      |                  |----not accepted-> pending   (provably not sent: safe to retry)
 *      |                  `----ambiguous---> unknown    (maybe sent: only reconciliation may resend)
 *      `--stale/superseded/opted out--> skipped, --appointment cancelled--> cancelled
 *      `--any of these after a provider 5xx nobody has looked behind--> unknown
 *
 *   unknown --the provider has it (its report, its list)--> sent
 *   unknown --the provider confirmed it never had it------> pending   (sent again, once, through the guard)
 *   unknown --no evidence and the channel's policy gives up--> failed
 *   sent, unknown --the provider could not deliver it------> undelivered (reached nobody; never resent on that channel)
 *
 * `sending` whose lease has ended by the database's clock means its holder died, stalled or lost its lock between
 * claim and record: the message may have left, so it becomes `unknown`, never `pending`. The send guard
 * (@nudge/send-guard, through the nudge_claim_delivery function and ClaimLedger) is what enforces this machine.
 */
export const DELIVERY_STATES = ["pending", "sending", "sent", "failed", "skipped", "cancelled", "unknown", "undelivered"] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export const TERMINAL_STATES: readonly DeliveryState[] = ["sent", "failed", "skipped", "cancelled", "undelivered"];

const TRANSITIONS: Record<DeliveryState, readonly DeliveryState[]> = {
  pending: ["sending", "skipped", "cancelled", "failed", "unknown"],
  sending: ["sent", "failed", "pending", "unknown"],
  // Reconciliation: a confirmed outcome, or a confirmed "never arrived" that may be sent again.
  unknown: ["sent", "failed", "pending", "undelivered"],
  sent: ["undelivered"],
  undelivered: [],
  failed: [],
  skipped: [],
  cancelled: [],
};

export function canTransition(from: DeliveryState, to: DeliveryState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Terminal for the worker: nothing will happen to the delivery without reconciliation. */
export function isSettled(state: DeliveryState): boolean {
  return state !== "pending" && state !== "sending";
}
