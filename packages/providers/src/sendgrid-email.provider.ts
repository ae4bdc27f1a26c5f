import type { MessageProvider, OutboundMessage, SendReceipt } from "@nudge/core";
import { Client } from "@sendgrid/client";
import { MailService } from "@sendgrid/mail";
import { classifySendError } from "./classify-error";
import type { SendGridConfig } from "./provider-config";

const PROVIDER = "SendGrid";

/**
 * Email through SendGrid v3 mail/send, with a Client and MailService of its own (the SDK's default exports are
 * process-wide singletons whose API key and base URL any other module could change).
 *
 * No `lookup`: SendGrid has no API to find a message by recipient and time (the activity feed is a paid add-on
 * with minutes of delay). So a 5xx is taken as "not accepted" and the email may be sent again: SendGrid documents a
 * 5xx as the request not having been queued, which makes this channel err, rarely, towards a duplicate email rather
 * than a lost one; the delivery id in custom_args lets the event webhook and reconciliation spot that exception.
 */
export class SendGridEmailProvider implements MessageProvider {
  readonly channel = "email" as const;
  private readonly mail: MailService;

  constructor(private readonly config: SendGridConfig) {
    const client = new Client();
    client.setApiKey(config.apiKey);
    // setApiKey resets the base URL to the region's default: set ours after it.
    if (config.baseUrl) client.setDefaultRequest("baseUrl", config.baseUrl);
    this.mail = new MailService();
    this.mail.setClient(client);
    // SendGrid's client has no timeout by default: a hung connection would hold the job forever.
    this.mail.setTimeout(config.timeoutMs);
  }

  async send(message: OutboundMessage): Promise<SendReceipt> {
    try {
      const [response] = await this.mail.send({
        to: message.to,
        from: this.config.from,
        // Without a subject SendGrid answers 400, which surfaces as a PermanentProviderError naming the field.
        ...(message.subject !== undefined && { subject: message.subject }),
        text: message.body,
        customArgs: { deliveryId: String(message.deliveryId) },
      });
      // 202 carries no body; the message id is only in this header.
      const id: unknown = response.headers["x-message-id"];
      return { providerMessageId: typeof id === "string" ? id : "" };
    } catch (err) {
      throw classifySendError(err, PROVIDER);
    }
  }
}
