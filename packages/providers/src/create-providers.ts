import type { Channel, MessageProvider } from "@nudge/core";
import { HubSpotCrm } from "./hubspot-crm.gateway";
import type { HubSpotConfig, ProvidersConfig } from "./provider-config";
import { SendGridEmailProvider } from "./sendgrid-email.provider";
import { TwilioSmsProvider } from "./twilio-sms.provider";
import { TwilioVoiceProvider } from "./twilio-voice.provider";

export type MessageProviders = Record<Channel, MessageProvider>;

/**
 * The channels that send. Only @nudge/send-guard calls this (scripts/check-deps.ts enforces it): every message
 * reaches a provider through the guard's claim -> send -> record, never directly.
 */
export function createMessageProviders(config: Pick<ProvidersConfig, "twilio" | "sendgrid">): MessageProviders {
  return {
    sms: new TwilioSmsProvider(config.twilio),
    voice: new TwilioVoiceProvider(config.twilio),
    email: new SendGridEmailProvider(config.sendgrid),
  };
}

/**
 * The CRM side: idempotent writes that each message kind's processor does before handing its message to the guard.
 * Give every worker process the same `limiter` (a RedisRequestLimiter) so that together they stay under HubSpot's
 * rate limit. One gateway per process: it batches the writes of all its concurrent jobs.
 */
export function createCrmGateway(config: HubSpotConfig): HubSpotCrm {
  return new HubSpotCrm(config);
}
