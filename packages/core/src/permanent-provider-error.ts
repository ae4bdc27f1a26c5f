/** The provider refused the message for good (e.g. Twilio 21610: the recipient unsubscribed). Never retried. */
export class PermanentProviderError extends Error {
  override readonly name = "PermanentProviderError";
  readonly code: string | number | undefined;
  readonly status: number | undefined;

  constructor(message: string, options: { code?: string | number; status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = options.code;
    this.status = options.status;
  }
}
