import http from "node:http";
import twilio from "twilio";
import type SdkRequestClient from "twilio/lib/base/RequestClient";
import type SdkResponse from "twilio/lib/http/response";
import type { TwilioConfig } from "./provider-config";

const TWILIO_ORIGIN = /^https:\/\/(?:[a-z0-9-]+\.)*twilio\.com(?::\d+)?(?=\/|$)/i;

/**
 * Twilio's SDK has no base-URL option: this RequestClient rewrites every *.twilio.com origin to `baseUrl`.
 * It also keeps the response headers of an error answer on the thrown RestException (`headers`), which the SDK drops:
 * a 429's Retry-After is needed to back off as told.
 */
export class TwilioRequestClient extends twilio.RequestClient {
  private readonly baseUrl: string | undefined;

  constructor(baseUrl: string | undefined, timeoutMs: number) {
    // autoRetry stays off: the SDK would retry 429s on its own, and retries belong to BullMQ.
    super({ timeout: timeoutMs, autoRetry: false, keepAlive: true });
    this.baseUrl = baseUrl?.replace(/\/+$/, "");
    // The SDK only builds an https agent; a plain-http base URL (the simulator) gets a keep-alive agent of its own.
    // An idle socket is closed by us before the server closes it (see the simulator's keepAliveTimeout).
    this.axios.defaults.httpAgent = new http.Agent({ keepAlive: true, timeout: timeoutMs });
  }

  override async request<TData>(opts: SdkRequestClient.RequestOptions<TData>): Promise<SdkResponse<TData>> {
    const uri = this.baseUrl ? opts.uri.replace(TWILIO_ORIGIN, this.baseUrl) : opts.uri;
    const response = await super.request<TData>({ ...opts, uri });
    if (response.statusCode >= 400) {
      // What the SDK would throw a moment later for the 2010-04-01 API (newer APIs' RFC 9457 bodies would have
      // become a TwilioServiceException; this package only calls 2010-04-01), plus the headers.
      throw Object.assign(new twilio.RestException(response), { headers: response.headers });
    }
    return response;
  }
}

export function createTwilioClient(config: TwilioConfig): twilio.Twilio {
  return twilio(config.accountSid, config.authToken, {
    httpClient: new TwilioRequestClient(config.baseUrl, config.timeoutMs),
    autoRetry: false,
    timeout: config.timeoutMs,
    // Twilio's env fallbacks (TWILIO_ACCOUNT_SID, TWILIO_EDGE...) are not ours to read: config comes from the app.
    env: {},
  });
}

/** StatusCallback for one delivery: the reconciler finds the delivery by the id in the callback URL. */
export function statusCallbackFor(config: TwilioConfig, deliveryId: number): { statusCallback?: string } {
  if (!config.statusCallbackUrl) return {};
  const url = new URL(config.statusCallbackUrl);
  url.searchParams.set("deliveryId", String(deliveryId));
  return { statusCallback: url.toString() };
}
