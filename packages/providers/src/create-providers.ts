import type { CrmGateway, MessageProvider } from "@nudge/core";
import { HubSpotCrm } from "./hubspot-crm.gateway";
import type { ProvidersConfig } from "./provider-config";
import { SendGridEmailProvider } from "./sendgrid-email.provider";
import { TwilioSmsProvider } from "./twilio-sms.provider";
import { TwilioVoiceProvider } from "./twilio-voice.provider";

export interface Providers {
  sms: MessageProvider;
  voice: MessageProvider;
  email: MessageProvider;
  crm: CrmGateway;
}

export function createProviders(config: ProvidersConfig): Providers {
  return {
    sms: new TwilioSmsProvider(config.twilio),
    voice: new TwilioVoiceProvider(config.twilio),
    email: new SendGridEmailProvider(config.sendgrid),
    crm: new HubSpotCrm(config.hubspot),
  };
}
