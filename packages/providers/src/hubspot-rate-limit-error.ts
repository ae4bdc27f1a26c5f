import { NotAcceptedError } from "@nudge/core";

/**
 * HubSpot's policies: TEN_SECONDLY_ROLLING (requests per rolling 10 s per token: the shared limiter should keep
 * Nudge under it) and DAILY (requests per day per portal: nothing to do but wait for the reset).
 */
export type HubSpotRatePolicy = "TEN_SECONDLY_ROLLING" | "DAILY" | "UNKNOWN";

/**
 * HubSpot refused a request for its rate limit: nothing was written, retry after `retryAfterMs`. A NotAcceptedError,
 * so a job defers its CRM step (and so its send) instead of failing; `policyName` is there for a metric.
 */
export class HubSpotRateLimitError extends NotAcceptedError {
  readonly policyName: HubSpotRatePolicy;

  constructor(message: string, options: { policyName: HubSpotRatePolicy; retryAfterMs: number; cause?: unknown }) {
    super(message, { retryAfterMs: options.retryAfterMs, status: 429, cause: options.cause });
    this.policyName = options.policyName;
  }
}
