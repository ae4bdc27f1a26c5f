import type { LookupResult, MessageProvider, OutboundMessage, SendReceipt } from "@nudge/core";
import type twilio from "twilio";
import { classifyIdempotentError, classifySendError } from "./classify-error";
import type { TwilioConfig } from "./provider-config";
import { sayTwiml } from "./say-twiml";
import { createTwilioClient, statusCallbackFor } from "./twilio-client";
import { createdSince, LOOKUP_LIMIT } from "./twilio-lookup";

const PROVIDER = "Twilio Voice";

/** A reminder call that reads the message body aloud (inline TwiML, no webhook to host). */
export class TwilioVoiceProvider implements MessageProvider {
  readonly channel = "voice" as const;
  private readonly client: twilio.Twilio;

  constructor(private readonly config: TwilioConfig) {
    this.client = createTwilioClient(config);
  }

  async send(message: OutboundMessage): Promise<SendReceipt> {
    try {
      const call = await this.client.calls.create({
        to: message.to,
        from: this.config.from,
        twiml: sayTwiml(message.body),
        ...statusCallbackFor(this.config, message.deliveryId),
      });
      return { providerMessageId: call.sid };
    } catch (err) {
      throw classifySendError(err, PROVIDER);
    }
  }

  /**
   * Calls from our number to this recipient created since `since`. A call resource keeps neither its TwiML nor our
   * delivery id, so a call found here cannot be attributed to this message by the provider's record alone: none
   * means "absent", any means "unattributable" and the send guard decides (one call and no other claim to that
   * number in the window: ours; otherwise the outcome stays unknown rather than ringing again or calling an unrelated
   * call ours). As for SMS, the creation time is checked here because a queued call has no start_time yet.
   */
  async lookup(message: OutboundMessage, since: Date): Promise<LookupResult> {
    try {
      const recent = await this.client.calls.list({ to: message.to, from: this.config.from, limit: LOOKUP_LIMIT });
      const calls = recent.filter((c) => createdSince(c.dateCreated, since)).map((c) => c.sid);
      return calls.length === 0 ? { kind: "absent" } : { kind: "unattributable", candidates: calls };
    } catch (err) {
      throw classifyIdempotentError(err, `${PROVIDER} lookup`);
    }
  }
}
