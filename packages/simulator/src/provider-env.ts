/**
 * Environment that points Nudge's apps at a running simulator: fictional credentials of the right shape
 * (the apps validate them) and every provider's base URL set to the simulator.
 */
export const SIMULATOR_TWILIO_AUTH_TOKEN = "simulator-auth-token";
/** The private app token the simulated HubSpot portal accepts by default; any other answers 401. */
export const SIMULATOR_HUBSPOT_TOKEN = "pat-simulator-token";
/** The account the apps are given; incoming messages (`receiveSms`) arrive for it. */
export const SIMULATOR_TWILIO_ACCOUNT_SID = "AC00000000000000000000000000000000";
/** The apps' sending number; incoming messages (`receiveSms`) are addressed to it unless they name another `to`. */
export const SIMULATOR_TWILIO_FROM_NUMBER = "+15005550006";

/**
 * Only what a URL determines. The SendGrid Event Webhook's verification key belongs to a simulator instance (it makes
 * its own at start unless given `sendgridEventSigningKey`), so it is not here: read `sim.sendgridEventPublicKey`, or
 * `publicKey` from GET /__sim/sendgrid/event-webhook in another process.
 */
export function simulatorProviderEnv(simulatorUrl: string): Record<string, string> {
  return {
    TWILIO_ACCOUNT_SID: SIMULATOR_TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: SIMULATOR_TWILIO_AUTH_TOKEN,
    TWILIO_FROM_NUMBER: SIMULATOR_TWILIO_FROM_NUMBER,
    TWILIO_BASE_URL: simulatorUrl,
    SENDGRID_API_KEY: "SG.simulator-api-key",
    SENDGRID_FROM_EMAIL: "reminders@example.com",
    SENDGRID_BASE_URL: simulatorUrl,
    HUBSPOT_ACCESS_TOKEN: SIMULATOR_HUBSPOT_TOKEN,
    HUBSPOT_BASE_URL: simulatorUrl,
  };
}
