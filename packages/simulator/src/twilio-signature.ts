import { createHmac } from "node:crypto";
import type { WebhookRequest } from "./status-callbacks";

/**
 * Twilio's X-Twilio-Signature: HMAC-SHA1 keyed by the auth token over the full URL followed by every POST parameter
 * as key+value, keys sorted; base64. The same computation `twilio.validateRequest` checks.
 */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac("sha1", authToken).update(Buffer.from(data, "utf-8")).digest("base64");
}

/** A form-encoded webhook to `url` as Twilio posts its status callbacks and incoming messages: signed, its User-Agent. */
export function twilioWebhook(authToken: string, url: string, params: Record<string, string>): WebhookRequest {
  return {
    body: new URLSearchParams(params).toString(),
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      "User-Agent": "TwilioProxy/1.1",
      "X-Twilio-Signature": twilioSignature(authToken, url, params),
    },
  };
}
