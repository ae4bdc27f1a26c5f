import type { ApplyResult } from "./request-applier";

/**
 * A batch that Nudge's database did not take as one (RequestApplier.applyBatch): `committed` holds the results of the
 * rows before the failure that did commit (those before an enroll or stop, which ends a transaction), in row order;
 * the rest are not in Nudge's database, and the relay applies them one row at a time.
 */
export class PartialBatchError extends Error {
  override readonly name = "PartialBatchError";

  constructor(
    readonly committed: ApplyResult[],
    override readonly cause: Error,
  ) {
    super(cause.message, { cause });
  }
}
