import { AmbiguousSendError, type LookupResult, type MessageProvider, NotAcceptedError, type OutboundMessage, type SendReceipt } from "@nudge/core";
import { Client } from "@sendgrid/client";
import { MailService } from "@sendgrid/mail";
import { classifyIdempotentError, classifySendError } from "./classify-error";
import type { SendGridConfig } from "./provider-config";

const PROVIDER = "SendGrid";

/**
 * Email through SendGrid v3 mail/send, with a Client and MailService of its own (the SDK's default exports are
 * process-wide singletons whose API key and base URL any other module could change).
 *
 * No `lookup`: SendGrid has no API to find a message by recipient and time (the activity feed is a paid add-on
 * with minutes of delay). So a 5xx is ambiguous here, not "not accepted": SendGrid documents a 5xx as "not queued",
 * but a 502 or 504 from a gateway in front of it is the likeliest answer to a request that was accepted upstream, and
 * resending on it gave recipients duplicate emails. The delivery becomes `unknown` and only evidence (the event
 * webhook, carrying the delivery id in custom_args) may resolve it: this channel errs towards a late email, never a
 * second one. 429 and refused connections remain "not accepted".
 */
export class SendGridEmailProvider implements MessageProvider {
  readonly channel = "email" as const;
  private readonly mail: MailService;
  private readonly client: Client;
  /** Only where the account has the Email Activity API (`emailActivity`); otherwise email has no lookup. */
  readonly lookup?: (message: OutboundMessage, since: Date) => Promise<LookupResult>;

  constructor(private readonly config: SendGridConfig) {
    const client = new Client();
    this.client = client;
    if (config.emailActivity) this.lookup = (message, since) => this.lookUpActivity(message, since);
    client.setApiKey(config.apiKey);
    // setApiKey resets the base URL to the region's default: set ours after it.
    if (config.baseUrl) client.setDefaultRequest("baseUrl", config.baseUrl);
    this.mail = new MailService();
    this.mail.setClient(client);
    // SendGrid's client has no timeout by default: a hung connection would hold the job forever.
    this.mail.setTimeout(config.timeoutMs);
  }

  /**
   * The Email Activity API, queried by the delivery id Nudge sends in custom_args and the recipient: an email SendGrid
   * has is found with its message id (the part of msg_id before the first dot, as X-Message-Id gives it). `since` is
   * not sent: the delivery id names one message already. The feed lags (minutes on real accounts): callers look
   * only after a settle time.
   */
  private async lookUpActivity(message: OutboundMessage, _since: Date): Promise<LookupResult> {
    const query = `unique_args['deliveryId']="${message.deliveryId}" AND to_email="${message.to.replace(/"/g, "")}"`;
    try {
      const [response, body] = await this.client.request({ method: "GET", url: "/v3/messages", qs: { limit: 10, query } });
      if (response.statusCode >= 400) throw Object.assign(new Error(`HTTP ${response.statusCode}`), { code: response.statusCode });
      const messages = ((body as { messages?: Array<{ msg_id?: string }> }).messages ?? []).filter((m) => typeof m.msg_id === "string");
      const found = messages[0];
      return found ? { kind: "found", providerMessageId: found.msg_id!.split(".")[0]! } : { kind: "absent" };
    } catch (err) {
      throw classifyIdempotentError(err, `${PROVIDER} email activity`);
    }
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
      const error = classifySendError(err, PROVIDER);
      if (error instanceof NotAcceptedError && error.status !== undefined && error.status >= 500) {
        throw new AmbiguousSendError(
          `${PROVIDER} answered HTTP ${error.status}, which may follow an accepted email (no lookup exists to check); mark the delivery unknown and reconcile from events, never resend blindly`,
          { cause: err },
        );
      }
      throw error;
    }
  }
}
