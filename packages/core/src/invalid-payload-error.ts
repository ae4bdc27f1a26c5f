/** A job or request whose data fails its schema. Retrying cannot help; the message names the offending field. */
export class InvalidPayloadError extends Error {
  override readonly name = "InvalidPayloadError";
  readonly issues: readonly string[];

  constructor(what: string, issues: readonly string[]) {
    super(`Invalid ${what}: ${issues.join("; ")}`);
    this.issues = issues;
  }
}
