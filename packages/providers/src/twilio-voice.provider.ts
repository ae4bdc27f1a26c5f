import type { MessageProvider, OutboundMessage, SendReceipt } from "@nudge/core";
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
   * Finds a call to this recipient created since `since`. A call resource does not keep its TwiML, so any such call
   * counts: for a reminder call, a call that may be ours is reason enough not to ring again. As for SMS, the
   * creation time is checked here because a queued call has no start_time for `StartTime>` to match.
   */
  async lookup(message: OutboundMessage, since: Date): Promise<SendReceipt | null> {
    try {
      const recent = await this.client.calls.list({ to: message.to, limit: LOOKUP_LIMIT });
      const match = recent.filter((c) => createdSince(c.dateCreated, since)).pop();
      return match ? { providerMessageId: match.sid } : null;
    } catch (err) {
      throw classifyIdempotentError(err, `${PROVIDER} lookup`);
    }
  }
}
