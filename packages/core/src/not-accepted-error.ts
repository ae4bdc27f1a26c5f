/**
 * The provider provably did not take the message (connection refused, 429, a 5xx answered by the provider):
 * retrying cannot produce a second message. `retryAfterMs` carries a provider's Retry-After; `needsLookup` says the
 * answer was a 5xx, after which a channel with a lookup checks before sending again.
 */
export class NotAcceptedError extends Error {
  override readonly name = "NotAcceptedError";
  readonly retryAfterMs: number | undefined;
  readonly needsLookup: boolean;
  readonly status: number | undefined;

  constructor(message: string, options: { retryAfterMs?: number; needsLookup?: boolean; status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
    this.needsLookup = options.needsLookup ?? false;
    this.status = options.status;
  }
}
