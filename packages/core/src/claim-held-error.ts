/**
 * Another attempt holds a live claim on this delivery: it may be sending right now. Retry once its lease has run
 * out (`retryAfterMs`); only then may the delivery be judged abandoned, by the database's clock.
 */
export class ClaimHeldError extends Error {
  override readonly name = "ClaimHeldError";

  constructor(
    readonly deliveryId: number,
    readonly retryAfterMs: number,
  ) {
    super(`Delivery ${deliveryId} is claimed by another attempt whose lease ends in ${retryAfterMs} ms; retrying after it`);
  }
}
