import { EventWebhook } from "@sendgrid/eventwebhook";
import twilio from "twilio";

/**
 * Is this request Twilio's? X-Twilio-Signature is an HMAC-SHA1, keyed by the account's auth token, over the URL Twilio
 * called followed by the POST parameters (sorted by name, name + value). `url` must be that URL exactly as Twilio
 * called it (scheme, host, path and query), which behind a proxy is not what the request's Host header says.
 * False, never an exception, for a missing or garbled signature: a forged request is the caller's problem to refuse.
 */
export function verifyTwilioSignature(authToken: string, signature: string | undefined, url: string, params: Record<string, string>): boolean {
  if (!authToken || !signature) return false;
  try {
    return twilio.validateRequest(authToken, signature, url, params);
  } catch {
    // validateRequest parses `url` with new URL() on its fallback path: an unparseable URL is simply not Twilio's.
    return false;
  }
}

const sendGrid = new EventWebhook();
type SendGridKey = ReturnType<EventWebhook["convertPublicKeyToECDSA"]>;
/** The last key parsed: a process verifies with one key, and parsing it (pure-JS ECDSA) costs more than a lookup. */
let parsedKey: { text: string; key: SendGridKey | undefined } | undefined;

function sendGridKey(publicKey: string): SendGridKey | undefined {
  if (parsedKey?.text !== publicKey) {
    let key: SendGridKey | undefined;
    try {
      key = sendGrid.convertPublicKeyToECDSA(publicKey);
    } catch {
      key = undefined;
    }
    parsedKey = { text: publicKey, key };
  }
  return parsedKey.key;
}

/**
 * Is this SendGrid Event Webhook post SendGrid's? ECDSA (P-256, SHA-256) over the timestamp header followed by the
 * body exactly as received: `payload` must be the raw bytes, since JSON parsed and serialized again differs from them
 * (SendGrid's bodies end with CRLF, for one). `publicKey` is the verification key from SendGrid's Mail Settings
 * (base64 DER, as SendGrid shows it, or PEM). False, never an exception, for missing or garbled input.
 */
export function verifySendGridSignature(
  publicKey: string,
  payload: string | Buffer,
  signature: string | undefined,
  timestamp: string | undefined,
): boolean {
  if (!signature || !timestamp) return false;
  const key = sendGridKey(publicKey);
  if (!key) return false;
  try {
    return sendGrid.verifySignature(key, payload, signature, timestamp);
  } catch {
    // The vendor's DER decoder throws on a signature that is not DER (random base64, truncated bytes).
    return false;
  }
}
