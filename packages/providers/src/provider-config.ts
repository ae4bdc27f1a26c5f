import type { RequestLimiter } from "@nudge/core";

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
  /**
   * The account has the Email Activity API (a paid add-on; the key needs the "Email Activity" scope): emails can then
   * be looked up by delivery id, which is the reconciler's evidence for email.
   */
  emailActivity?: boolean;
}

export interface HubSpotConfig {
  /** The private app's access token (scopes: crm.objects.contacts.read/write, crm.schemas.contacts.read/write). */
  accessToken: string;
  /** Replaces https://api.hubapi.com. */
  baseUrl?: string;
  timeoutMs: number;
  /**
   * Awaited before every HubSpot request. HubSpot limits requests per token, whichever process sends them, so the
   * worker processes share one (@nudge/queue's RedisRequestLimiter). Without one, requests go out unpaced.
   */
  limiter?: RequestLimiter;
  /** How long concurrent jobs' contact writes are collected into one batch request; default 20 ms. */
  batchWindowMs?: number;
}

export interface ProvidersConfig {
  twilio: TwilioConfig;
  sendgrid: SendGridConfig;
  hubspot: HubSpotConfig;
}
