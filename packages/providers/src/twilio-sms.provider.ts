import type { LookupResult, MessageProvider, OutboundMessage, SendReceipt } from "@nudge/core";
import type twilio from "twilio";
import { classifyIdempotentError, classifySendError } from "./classify-error";
import type { TwilioConfig } from "./provider-config";
import { createTwilioClient, statusCallbackFor } from "./twilio-client";
import { createdSince, LOOKUP_LIMIT } from "./twilio-lookup";

const PROVIDER = "Twilio SMS";

export class TwilioSmsProvider implements MessageProvider {
  readonly channel = "sms" as const;
  private readonly client: twilio.Twilio;

  constructor(private readonly config: TwilioConfig) {
    this.client = createTwilioClient(config);
  }

  async send(message: OutboundMessage): Promise<SendReceipt> {
    try {
      const created = await this.client.messages.create({
        to: message.to,
        from: this.config.from,
        body: message.body,
        ...statusCallbackFor(this.config, message.deliveryId),
      });
      return { providerMessageId: created.sid };
    } catch (err) {
      throw classifySendError(err, PROVIDER);
    }
  }

  /**
   * Finds a message to this recipient from our number with this body (the stored body, exactly as sent) created since
   * `since`. Filters on `To` and `From` and checks the
   * creation time here rather than with `DateSent>`: a message still queued at Twilio has no date_sent yet, and a
   * filter on it would miss exactly the message a 5xx may have left behind. Lookup errors are thrown as
   * NotAcceptedError (look again later) or PermanentProviderError.
   */
  async lookup(message: OutboundMessage, since: Date): Promise<LookupResult> {
    try {
      const recent = await this.client.messages.list({ to: message.to, from: this.config.from, limit: LOOKUP_LIMIT });
      const match = recent.filter((m) => createdSince(m.dateCreated, since) && m.body === message.body).pop();
      return match ? { kind: "found", providerMessageId: match.sid } : { kind: "absent" };
    } catch (err) {
      throw classifyIdempotentError(err, `${PROVIDER} lookup`);
    }
  }
}
