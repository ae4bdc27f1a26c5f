export { startSimulator } from "./server";
export { twilioSignature } from "./twilio-signature";
export {
  simulatorProviderEnv,
  SIMULATOR_TWILIO_AUTH_TOKEN,
  SIMULATOR_TWILIO_ACCOUNT_SID,
  SIMULATOR_TWILIO_FROM_NUMBER,
  SIMULATOR_HUBSPOT_TOKEN,
} from "./provider-env";
export { HUBSPOT_SCOPES } from "./hubspot-settings";
export { FAULT_KINDS, FAULT_STATUSES } from "./fault-injector";
export { SIM_PROVIDERS } from "./request-record";
export type { Simulator, SimulatorOptions } from "./simulator";
export type { Fault, FaultKind, FaultStatus } from "./fault-injector";
export type { SimRecord, RecordFilter, SimProvider } from "./request-record";
export type { CrmContact } from "./hubspot-contacts";
export type { HubSpotSettings, HubSpotScope } from "./hubspot-settings";
export type { HubSpotUsage, RateLimited } from "./hubspot-rate-limits";
export type { CrmProperty, CrmPropertyGroup } from "./hubspot-properties";
export type { SimLogger, CallbackChaos, CallbackStats, WebhookAnswer } from "./status-callbacks";
export type { SendGridEventWebhook } from "./sendgrid-events";
export type { InboundSms } from "./twilio-inbound";
