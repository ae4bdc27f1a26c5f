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
 * What a provider's records say about a message that an earlier attempt may have created.
 * `unattributable`: messages to the recipient exist since then, but the provider's record cannot say whether one is
 * this message (a call keeps no body); the caller decides with what else it knows.
 */
export type LookupResult =
  | { kind: "found"; providerMessageId: string }
  | { kind: "absent" }
  | { kind: "unattributable"; candidates: readonly string[] };

/**
 * One channel's adapter. `send` throws only the three provider errors of this package:
 * NotAcceptedError (safe to retry), PermanentProviderError (final) or AmbiguousSendError (outcome unknown).
 */
export interface MessageProvider {
  readonly channel: Channel;
  send(message: OutboundMessage): Promise<SendReceipt>;
  /**
   * Looks for a message this delivery may already have produced since `since` (after a 5xx, which usually but not
   * always means "not created"), matching on what was sent (recipient, and the stored body where the provider keeps
   * it). Absent where the provider offers no lookup.
   */
  lookup?(message: OutboundMessage, since: Date): Promise<LookupResult>;
}
