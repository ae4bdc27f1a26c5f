/**
 * The request may have reached the provider but no answer came back (timeout, connection reset after the request
 * left). The message may or may not exist: the delivery becomes `unknown` and only reconciliation may resend it.
 */
export class AmbiguousSendError extends Error {
  override readonly name = "AmbiguousSendError";

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
  }
}
