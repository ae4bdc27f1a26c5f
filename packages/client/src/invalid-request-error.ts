/**
 * A request to Nudge that cannot be written (or, on the relay's side, read): a bad idempotency key, a payload that
 * fails its request kind's schema, a missing or invalid subject version. Retrying cannot help. Each issue starts with
 * the field at fault (`key`, `payload.contact.phone`, `options.version`), so that the caller can point at it.
 */
export class InvalidNudgeRequestError extends Error {
  override readonly name = "InvalidNudgeRequestError";

  constructor(
    /** The request kind as given (it may be one Nudge does not know). */
    readonly kind: string,
    /** The idempotency key as given. */
    readonly key: unknown,
    readonly issues: readonly string[],
  ) {
    super(`Invalid ${kind} request ${JSON.stringify(key) ?? String(key)}: ${issues.join("; ")}`);
  }
}
