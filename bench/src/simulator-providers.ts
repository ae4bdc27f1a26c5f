import { createProviders, type Providers } from "@nudge/providers";
import { simulatorProviderEnv } from "@nudge/simulator";

/**
 * The real Twilio, SendGrid and HubSpot adapters pointed at the simulator, with the same fictional credentials the
 * apps get from `simulatorProviderEnv`: the in-process sections and the worker process talk to it identically.
 */
export function simulatorProviders(simulatorUrl: string, timeoutMs = 10_000): Providers {
  const env = simulatorProviderEnv(simulatorUrl);
  const get = (name: string): string => {
    const value = env[name];
    if (value === undefined) throw new Error(`simulatorProviderEnv no longer provides ${name}; update bench/src/simulator-providers.ts`);
    return value;
  };
  return createProviders({
    twilio: { accountSid: get("TWILIO_ACCOUNT_SID"), authToken: get("TWILIO_AUTH_TOKEN"), from: get("TWILIO_FROM_NUMBER"), baseUrl: simulatorUrl, timeoutMs },
    sendgrid: { apiKey: get("SENDGRID_API_KEY"), from: get("SENDGRID_FROM_EMAIL"), baseUrl: simulatorUrl, timeoutMs },
    hubspot: { accessToken: get("HUBSPOT_ACCESS_TOKEN"), baseUrl: simulatorUrl, timeoutMs },
  });
}
