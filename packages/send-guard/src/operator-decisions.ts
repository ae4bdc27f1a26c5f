import { ClaimLedger, DashboardStore, type Db, DeliveryLedger } from "@nudge/db";

export type OperatorAction = "mark-sent" | "release";

export interface OperatorDecisionResult {
  /** Whether the delivery changed. False: it was no longer `unknown` (someone or something decided first). */
  applied: boolean;
  /** What happened, as written to the audit log. */
  outcome: string;
}

/**
 * A person's decision on a send the reconciler could not settle (`unknown`, awaiting an operator), made on the
 * dashboard. It lives here because it settles or reopens a delivery, which only the send guard may do:
 *  - mark sent: unknown -> sent, with the provider's id when the operator names one;
 *  - release: unknown -> pending with one more resend allowed. Nothing is sent here: the reconciler's next pass
 *    sends it through the claim (SendGuard.deliver, as every resend), so it goes out once, and a cancel, an opt-out
 *    or its deadline still stops it.
 * Both are single guarded statements on `state = 'unknown'`, so two operators (or an operator and a late status
 * callback) cannot both decide: the second finds nothing to change, and the audit log says so.
 */
export class OperatorDecisions {
  private readonly claims: ClaimLedger;
  private readonly deliveries: DeliveryLedger;
  private readonly store: DashboardStore;

  constructor(db: Db) {
    this.claims = new ClaimLedger(db);
    this.deliveries = new DeliveryLedger(db);
    this.store = new DashboardStore(db);
  }

  async decide(deliveryId: number, action: OperatorAction, operator: string, providerMessageId?: string): Promise<OperatorDecisionResult> {
    const result = await this.apply(deliveryId, action, operator, providerMessageId);
    await this.store.recordDecision({ operator, action, deliveryId, detail: providerMessageId ?? null, outcome: result.outcome });
    return result;
  }

  private async apply(deliveryId: number, action: OperatorAction, operator: string, providerMessageId?: string): Promise<OperatorDecisionResult> {
    const delivery = await this.deliveries.byId(deliveryId);
    if (!delivery) return { applied: false, outcome: "refused: no such delivery" };
    if (delivery.state !== "unknown") return { applied: false, outcome: `refused: the delivery is ${delivery.state}, not waiting for a decision` };
    // An unknown send the reconciler has not handed over may still be found in the provider's list: a release then
    // would send a message the recipient already has. Only the reconciler's leftovers are a person's to decide.
    if (!(await this.store.isAwaitingDecision(deliveryId))) return { applied: false, outcome: "refused: the reconciler has not handed it to an operator (yet)" };
    if (action === "mark-sent") {
      // Without a provider id from the operator, the one the delivery already carries (if any) is kept.
      const id = providerMessageId || delivery.providerMessageId || `operator-decision-${deliveryId}`;
      const applied = await this.claims.resolveSent(deliveryId, id, `marked sent by operator ${operator}`);
      return { applied, outcome: applied ? "sent" : "refused: no longer unknown" };
    }
    // The reconciler's own cap on resends (RECONCILE_MAX_RESENDS) is what sent it to a person; the person's release
    // is one reopen, whatever the count: the statement reopens only an `unknown` delivery, and the resend makes it
    // something else, so one release is one send at most.
    const reopened = await this.claims.reopenUnknown(deliveryId, `released for one resend by operator ${operator}`, 2_147_483_647);
    if (reopened === "reopened") return { applied: true, outcome: "released: pending, the reconciler sends it once" };
    if (reopened === "superseded") return { applied: true, outcome: "skipped: a later step of the same source replaced it" };
    return { applied: false, outcome: "refused: no longer unknown, or the provider reported on it" };
  }
}
