export { TwilioSmsProvider } from "./twilio-sms.provider";
export { TwilioVoiceProvider } from "./twilio-voice.provider";
export { SendGridEmailProvider } from "./sendgrid-email.provider";
export { HubSpotCrm } from "./hubspot-crm.gateway";
export { createMessageProviders, createCrmGateway } from "./create-providers";
export { classifySendError, classifyIdempotentError, inspectError, parseRetryAfter } from "./classify-error";
export type { MessageProviders } from "./create-providers";
export type { TwilioConfig, SendGridConfig, HubSpotConfig, ProvidersConfig } from "./provider-config";
export type { ErrorFacts } from "./classify-error";
