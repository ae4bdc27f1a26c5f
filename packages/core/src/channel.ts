export const CHANNELS = ["sms", "voice", "email"] as const;
export type Channel = (typeof CHANNELS)[number];

/** What a provider adapter needs to send one message. `deliveryId` travels to the provider (callback URL, custom_args). */
export interface OutboundMessage {
  deliveryId: number;
  channel: Channel;
  /** E.164 phone number for sms/voice, an address for email. */
  to: string;
  body: string;
  /** Email subject; ignored by the phone channels. */
  subject?: string;
}

export interface SendReceipt {
  providerMessageId: string;
}

/**
 * One channel's adapter. `send` throws only the three provider errors of this package:
 * NotAcceptedError (safe to retry), PermanentProviderError (final) or AmbiguousSendError (outcome unknown).
 */
export interface MessageProvider {
  readonly channel: Channel;
  send(message: OutboundMessage): Promise<SendReceipt>;
  /**
   * Looks for a message this delivery may already have produced since `since` (after a 5xx, which usually but not
   * always means "not created"). Absent where the provider offers no lookup.
   */
  lookup?(message: OutboundMessage, since: Date): Promise<SendReceipt | null>;
}

/** The CRM side of a job: absolute property values only, so that a retry writes the same thing again. */
export interface CrmGateway {
  updateContact(crmContactId: string, properties: Record<string, string>): Promise<void>;
}
