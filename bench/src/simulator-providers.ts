import type { CrmGateway } from "@nudge/core";
import { createCrmGateway, createMessageProviders, type MessageProviders, type ProvidersConfig } from "@nudge/providers";
import { simulatorProviderEnv } from "@nudge/simulator";

/**
 * The Twilio, SendGrid and HubSpot configuration pointed at the simulator, with the same fictional credentials the
 * apps get from `simulatorProviderEnv`: the in-process sections and the worker process talk to it identically.
 */
export function simulatorProvidersConfig(simulatorUrl: string, timeoutMs = 10_000): ProvidersConfig {
  const env = simulatorProviderEnv(simulatorUrl);
  const get = (name: string): string => {
    const value = env[name];
    if (value === undefined) throw new Error(`simulatorProviderEnv no longer provides ${name}; update bench/src/simulator-providers.ts`);
    return value;
  };
  return {
    twilio: { accountSid: get("TWILIO_ACCOUNT_SID"), authToken: get("TWILIO_AUTH_TOKEN"), from: get("TWILIO_FROM_NUMBER"), baseUrl: simulatorUrl, timeoutMs },
    sendgrid: { apiKey: get("SENDGRID_API_KEY"), from: get("SENDGRID_FROM_EMAIL"), baseUrl: simulatorUrl, timeoutMs },
    hubspot: { accessToken: get("HUBSPOT_ACCESS_TOKEN"), baseUrl: simulatorUrl, timeoutMs },
  };
}

/**
 * The bare adapters, for the benchmark's unsafe peer only: it calls a provider without the send guard on purpose,
 * as the baseline Nudge is measured against (allowed by name in scripts/check-deps.ts).
 */
export function unguardedSimulatorProviders(simulatorUrl: string): MessageProviders & { crm: CrmGateway } {
  const config = simulatorProvidersConfig(simulatorUrl);
  return { ...createMessageProviders(config), crm: createCrmGateway(config.hubspot) };
}
