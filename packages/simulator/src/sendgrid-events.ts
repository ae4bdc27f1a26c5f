import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { validateWebhookUrl, type CallbackStep, type StatusCallbacks, type WebhookRequest } from "./status-callbacks";

export const SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature";
export const SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp";

/** Where SendGrid posts its events (null: nowhere) and the key that verifies them, as SendGrid's settings page shows it. */
export interface SendGridEventWebhook {
  url: string | null;
  publicKey: string;
}

/** One recipient of a mail SendGrid accepted, as its events describe it. */
export interface AcceptedMail {
  /** The X-Message-Id SendGrid answered. */
  messageId: string;
  /** The recipient's index among the mail's recipients (0 for the first), which tells its sg_message_id apart. */
  recipient: number;
  email: string;
  /** The personalization's custom_args over the mail's, as strings. */
  customArgs: Record<string, string>;
  categories: string[];
}

/**
 * SendGrid's signed Event Webhook: for each recipient of an accepted mail, `processed` then `delivered` (or `bounce`
 * for an address marked with `bounce`), `delayMs` apart like Twilio's callbacks. Each post is a JSON array of one
 * event, signed with ECDSA P-256 over timestamp + body, exactly what `EventWebhook.verifySignature` checks.
 */
export class SendGridEvents {
  readonly publicKey: string;
  private readonly privateKey: KeyObject;
  private readonly initialUrl: string | null;
  private url: string | null;
  private readonly bounced = new Set<string>();

  constructor(private readonly deps: { callbacks: StatusCallbacks; signingKey?: string; url?: string }) {
    this.privateKey = deps.signingKey === undefined
      ? generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey
      : parseSigningKey(deps.signingKey);
    // SendGrid shows the verification key as base64 DER (SubjectPublicKeyInfo), with no PEM armour.
    this.publicKey = createPublicKey(this.privateKey).export({ type: "spki", format: "der" }).toString("base64");
    this.initialUrl = this.url = deps.url === undefined ? null : validateWebhookUrl(deps.url, "sendgridEventWebhookUrl");
  }

  /** Changes the URL when `url` is given (null turns events off) and returns the settings now in effect. */
  configure(settings: { url?: string | null } = {}): SendGridEventWebhook {
    if (settings.url !== undefined) this.url = settings.url === null ? null : validateWebhookUrl(settings.url, "the SendGrid event webhook URL");
    return { url: this.url, publicKey: this.publicKey };
  }

  bounce(email: string): void {
    this.bounced.add(email.toLowerCase());
  }

  /** Schedules the recipient's events; nothing when no URL is set (SendGrid keeps no backlog for a webhook set later). */
  accepted(mail: AcceptedMail): void {
    if (this.url === null) return;
    const common = {
      ...mail.customArgs,
      email: mail.email,
      "smtp-id": `<${mail.messageId}@ismtpd0001p1iad2.sendgrid.net>`,
      sg_message_id: `${mail.messageId}.filter0001.${mail.recipient + 1}.0`,
      ...(mail.categories.length > 0 && { category: mail.categories.length === 1 ? mail.categories[0] : mail.categories }),
    };
    const outcome: Record<string, unknown> = this.bounced.has(mail.email.toLowerCase())
      ? {
          event: "bounce",
          reason: "550 5.1.1 The email account that you tried to reach does not exist.",
          status: "5.1.1",
          type: "bounce",
          bounce_classification: "Invalid Address",
        }
      : { event: "delivered", response: "250 OK" };
    const steps: CallbackStep[] = [{ event: "processed" }, outcome].map((fields) => ({
      request: () => this.signed({ ...common, ...fields }),
    }));
    this.deps.callbacks.schedule(this.url, steps, "event webhook");
  }

  /** Back to the URL it started with, no bounces. The key pair stays: receivers were configured with it. */
  reset(): void {
    this.url = this.initialUrl;
    this.bounced.clear();
  }

  private signed(fields: Record<string, unknown>): WebhookRequest {
    const now = Date.now();
    const event = { ...fields, timestamp: Math.floor(now / 1000), sg_event_id: randomBytes(16).toString("base64url").slice(0, 22) };
    // SendGrid's bodies end with CRLF, and the signature covers it: a receiver must verify the raw body, not JSON it
    // parsed and serialized again, and this catches one that does.
    const body = JSON.stringify([event]) + "\r\n";
    const timestamp = String(Math.floor(now / 1000));
    const signature = sign("sha256", Buffer.from(timestamp + body, "utf-8"), this.privateKey).toString("base64");
    return {
      body,
      headers: { "Content-Type": "application/json", [SENDGRID_SIGNATURE_HEADER]: signature, [SENDGRID_TIMESTAMP_HEADER]: timestamp },
    };
  }
}

function parseSigningKey(pem: string): KeyObject {
  const fix = "give a PEM private key on P-256, e.g. from `openssl ecparam -name prime256v1 -genkey -noout`";
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`sendgridEventSigningKey is not a private key (${(err as Error).message}): ${fix}`);
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error(`sendgridEventSigningKey must be an ECDSA key on P-256 (SendGrid signs with nothing else): ${fix}`);
  }
  return key;
}
