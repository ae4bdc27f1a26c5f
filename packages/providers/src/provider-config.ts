/** Plain config objects: this package reads no environment; the app parses its env once and hands these down. */
export interface TwilioConfig {
  accountSid: string;
  authToken: string;
  /** The sending number, E.164. */
  from: string;
  /** Replaces https://api.twilio.com (and every other *.twilio.com host), e.g. the simulator's URL. */
  baseUrl?: string;
  /** When set, each message carries StatusCallback = `${statusCallbackUrl}?deliveryId=${id}`. */
  statusCallbackUrl?: string;
  timeoutMs: number;
}

export interface SendGridConfig {
  apiKey: string;
  /** The sender address. */
  from: string;
  /** Replaces https://api.sendgrid.com. */
  baseUrl?: string;
  timeoutMs: number;
}

export interface HubSpotConfig {
  accessToken: string;
  /** Replaces https://api.hubapi.com. */
  baseUrl?: string;
  timeoutMs: number;
}

export interface ProvidersConfig {
  twilio: TwilioConfig;
  sendgrid: SendGridConfig;
  hubspot: HubSpotConfig;
}
