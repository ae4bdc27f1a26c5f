import type { CrmGateway } from "@nudge/core";
import { Client } from "@hubspot/api-client";
import type { BasicApi } from "@hubspot/api-client/lib/codegen/crm/contacts";
import { classifyIdempotentError } from "./classify-error";
import type { HubSpotConfig } from "./provider-config";
import { idleTimeoutAgent, withTimeout } from "./with-timeout";

const PROVIDER = "HubSpot";
const DEFAULT_BASE_URL = "https://api.hubapi.com";
/**
 * HubSpot 13's generated APIs only run the configured middleware (the one that installs `httpAgent`, and the
 * User-Agent header) when call-time options carry a middleware list; without options they run none. An empty list
 * appended to the configured ones makes them run.
 */
const RUN_CONFIGURED_MIDDLEWARE = { middleware: [], middlewareMergeStrategy: "append" as const };

/**
 * CRM updates through HubSpot's contacts API. The update writes absolute values, so repeating it is harmless: every
 * transient failure (timeouts and resets included) is a NotAcceptedError to retry; 4xx other than 408/429 are final.
 */
export class HubSpotCrm implements CrmGateway {
  private readonly contacts: BasicApi;

  constructor(private readonly config: HubSpotConfig) {
    const basePath = (config.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    // HubSpot 13 keeps its retry/limiter decorators process-global, set by the latest `new Client()` and applied to
    // an API object when it is first built. So: no retries (BullMQ retries), and build the contacts API right away,
    // while the decorators are ours.
    const client = new Client({
      accessToken: config.accessToken,
      basePath,
      numberOfApiCallRetries: 0,
      // The SDK has no timeout: idle sockets are cut here, and each call is raced against the timeout below.
      httpAgent: idleTimeoutAgent(new URL(basePath).protocol, config.timeoutMs),
    });
    this.contacts = client.crm.contacts.basicApi;
  }

  async updateContact(crmContactId: string, properties: Record<string, string>): Promise<void> {
    try {
      await withTimeout(
        this.contacts.update(crmContactId, { properties }, undefined, RUN_CONFIGURED_MIDDLEWARE),
        this.config.timeoutMs,
        `${PROVIDER} contact update`,
      );
    } catch (err) {
      throw classifyIdempotentError(err, PROVIDER);
    }
  }
}
