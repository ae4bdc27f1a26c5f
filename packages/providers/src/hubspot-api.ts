import { NotAcceptedError } from "@nudge/core";
import { Client } from "@hubspot/api-client";
import type { BatchApi, SearchApi } from "@hubspot/api-client/lib/codegen/crm/contacts";
import type { CoreApi, GroupsApi } from "@hubspot/api-client/lib/codegen/crm/properties";
import { classifyHubSpotError } from "./hubspot-errors";
import { HubSpotRateLimitError } from "./hubspot-rate-limit-error";
import type { HubSpotConfig } from "./provider-config";
import { idleTimeoutAgent, withTimeout } from "./with-timeout";

const DEFAULT_BASE_URL = "https://api.hubapi.com";

/**
 * HubSpot 13's generated APIs only run the configured middleware (the one that installs `httpAgent`, and the
 * User-Agent header) when call-time options carry a middleware list; without options they run none. An empty list
 * appended to the configured ones makes them run.
 */
const RUN_CONFIGURED_MIDDLEWARE = { middleware: [], middlewareMergeStrategy: "append" as const };
export type CallOptions = typeof RUN_CONFIGURED_MIDDLEWARE;

/**
 * The HubSpot SDK as Nudge uses it: every call waits for the shared limiter first, is cut at the timeout the SDK
 * lacks, and fails as a classified error (CrmPortalError, PermanentProviderError or NotAcceptedError).
 */
export class HubSpotApi {
  readonly contacts: { batch: BatchApi; search: SearchApi };
  readonly properties: { core: CoreApi; groups: GroupsApi };
  /** Once HubSpot says the daily cap is reached, calls fail here until it resets instead of spending requests on 429s. */
  private dailyCapUntil: number | undefined;

  constructor(private readonly config: HubSpotConfig) {
    const basePath = (config.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    // HubSpot 13 keeps its retry/limiter decorators process-global, set by the latest `new Client()` and applied to
    // an API object when it is first built. So: no retries (the jobs retry, within their deadlines), no SDK limiter
    // (the shared one paces every process, not just this one), and build every API right away, while the
    // decorators are ours.
    const client = new Client({
      accessToken: config.accessToken,
      basePath,
      numberOfApiCallRetries: 0,
      // The SDK has no timeout: idle sockets are cut here, and each call is raced against the timeout below.
      httpAgent: idleTimeoutAgent(new URL(basePath).protocol, config.timeoutMs),
    });
    this.contacts = { batch: client.crm.contacts.batchApi, search: client.crm.contacts.searchApi };
    this.properties = { core: client.crm.properties.coreApi, groups: client.crm.properties.groupsApi };
  }

  /**
   * One HubSpot request. `tokenHeld`: the caller already waited for the limiter for this request (a batch waits
   * before it is closed, so that inputs arriving meanwhile ride along).
   */
  async call<T>(what: string, request: (options: CallOptions) => Promise<T>, options: { tokenHeld?: boolean } = {}): Promise<T> {
    this.refuseWhileDailyCapped(what);
    if (!options.tokenHeld) await this.acquire();
    try {
      return await withTimeout(request(RUN_CONFIGURED_MIDDLEWARE), this.config.timeoutMs, `HubSpot ${what}`);
    } catch (err) {
      const failure = classifyHubSpotError(err, what);
      if (failure instanceof HubSpotRateLimitError && failure.policyName === "DAILY") this.dailyCapUntil = Date.now() + failure.retryAfterMs!;
      throw failure;
    }
  }

  /** Waits until the shared budget has room for one more request (at once without a limiter). */
  async acquire(): Promise<void> {
    if (!this.config.limiter) return;
    try {
      await this.config.limiter.acquire();
    } catch (err) {
      throw new NotAcceptedError(`the shared HubSpot request limiter failed (${(err as Error).message}); nothing was sent to HubSpot: retry`, { cause: err });
    }
  }

  private refuseWhileDailyCapped(what: string): void {
    if (this.dailyCapUntil === undefined) return;
    const left = this.dailyCapUntil - Date.now();
    if (left <= 0) {
      this.dailyCapUntil = undefined;
      return;
    }
    throw new HubSpotRateLimitError(
      `HubSpot's DAILY request limit is used up (${what}: not sent); CRM updates, and the sends that wait on them, are deferred until 00:00 UTC (in ${Math.ceil(left / 60_000)} min)`,
      { policyName: "DAILY", retryAfterMs: left },
    );
  }
}
