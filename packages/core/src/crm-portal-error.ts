/**
 * The CRM refuses every write, not just this contact's: a bad token (401), a missing scope (403), or Nudge's
 * properties missing. Failing jobs one by one cannot help: a worker stops its intake and reports not-ready until the
 * portal is fixed. The message names the fix.
 */
export class CrmPortalError extends Error {
  override readonly name = "CrmPortalError";
  readonly status: number | undefined;

  constructor(message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.status = options.status;
  }
}
