import { createHmac, generateKeyPairSync, sign, type KeyObject } from "node:crypto";

/**
 * Request signing as the providers document it, written here from their documentation and node:crypto alone, so that
 * the tests do not check the app's verification against itself.
 */

/** Twilio: HMAC-SHA1 keyed by the auth token over the full URL, then each POST parameter as name+value, names sorted; base64. */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, name) => acc + name + params[name], url);
  return createHmac("sha1", authToken).update(Buffer.from(data, "utf8")).digest("base64");
}

export interface SendGridSigner {
  /** The verification key as SendGrid's Mail Settings show it: base64 of the SubjectPublicKeyInfo DER. */
  publicKey: string;
  /** The signature and timestamp headers for `body`, signed at `timestamp` (seconds). */
  headers(body: string | Buffer, timestamp?: string): Record<string, string>;
}

/** SendGrid: ECDSA P-256 with SHA-256 over timestamp + raw body, the DER signature base64. A fresh key pair per call. */
export function sendGridSigner(): SendGridSigner {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return {
    publicKey: publicKey.export({ type: "spki", format: "der" }).toString("base64"),
    headers: (body, timestamp = String(Math.floor(Date.now() / 1000))) => ({
      "x-twilio-email-event-webhook-signature": signWith(privateKey, timestamp, body),
      "x-twilio-email-event-webhook-timestamp": timestamp,
    }),
  };
}

function signWith(key: KeyObject, timestamp: string, body: string | Buffer): string {
  return sign("sha256", Buffer.concat([Buffer.from(timestamp, "utf8"), Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8")]), key).toString("base64");
}
