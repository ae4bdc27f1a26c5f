import { AmbiguousSendError, NotAcceptedError, PermanentProviderError } from "@nudge/core";

/** What can be read off an error thrown by an SDK call, whatever the SDK (axios, node-fetch, fetch, Twilio, SendGrid, HubSpot). */
export interface ErrorFacts {
  /** The HTTP status the provider answered with, if it answered. */
  status?: number;
  /** The provider's own error code: Twilio's numeric `code` (21610), HubSpot's `category`. */
  providerCode?: string | number;
  retryAfterMs?: number;
  /** System / library error codes found anywhere in the `cause` chain (ECONNREFUSED, ECONNRESET, ECONNABORTED...). */
  networkCodes: string[];
  timedOut: boolean;
  /** The provider's message, or the error's. */
  message: string;
}

/**
 * Codes that prove the request never left this process: the connection was never made (refused, unresolvable,
 * unroutable, TLS refused) or the URL could not even be built. Anything else without an HTTP answer may have reached
 * the provider.
 */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EAI_FAIL",
  "EAI_NONAME",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "ERR_INVALID_URL",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UND_ERR_CONNECT_TIMEOUT",
]);

const TIMEOUT_CODES = new Set(["ECONNABORTED", "ETIMEDOUT", "ESOCKETTIMEDOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

type Bag = Record<string, unknown>;

function isBag(value: unknown): value is Bag {
  return typeof value === "object" && value !== null;
}

function isStatus(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 100 && value < 600;
}

/** The error itself, then its `cause` chain, then the members of any AggregateError met on the way. */
function chainOf(err: unknown): Bag[] {
  const seen = new Set<unknown>();
  const chain: Bag[] = [];
  const visit = (value: unknown, depth: number): void => {
    if (!isBag(value) || seen.has(value) || depth > 10) return;
    seen.add(value);
    chain.push(value);
    visit(value.cause, depth + 1);
    if (Array.isArray(value.errors)) for (const inner of value.errors) visit(inner, depth + 1);
  };
  visit(err, 0);
  return chain;
}

/**
 * The HTTP status an error carries: Twilio's RestException (`status`), axios (`response.status`), SendGrid's
 * ResponseError and HubSpot's ApiException (both put the status in a numeric `code`, next to `response` or `body`).
 */
function statusOf(e: Bag): number | undefined {
  if (isStatus(e.status)) return e.status;
  const response = isBag(e.response) ? e.response : undefined;
  if (response && isStatus(response.status)) return response.status;
  if (response && isStatus(response.statusCode)) return response.statusCode;
  if (isStatus(e.statusCode)) return e.statusCode;
  if (isStatus(e.code) && ("response" in e || "body" in e || "headers" in e)) return e.code;
  return undefined;
}

function headersOf(e: Bag): unknown {
  return e.headers ?? (isBag(e.response) ? e.response.headers : undefined);
}

function bodyOf(e: Bag): unknown {
  if ("body" in e) return e.body;
  if (isBag(e.response)) return e.response.body ?? e.response.data;
  return undefined;
}

export function headerValue(headers: unknown, name: string): string | undefined {
  if (!isBag(headers)) return undefined;
  if (typeof headers.get === "function") {
    const value = (headers.get as (n: string) => unknown).call(headers, name);
    if (value !== undefined && value !== null) return String(value);
  }
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted && value !== undefined && value !== null) return Array.isArray(value) ? String(value[0]) : String(value);
  }
  return undefined;
}

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** SendGrid's 429 names the end of the window instead (X-RateLimit-Reset, epoch seconds). */
export function parseRateLimitReset(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Math.max(0, Number(value.trim()) * 1000 - now);
}

function providerCodeOf(e: Bag, status: number): string | number | undefined {
  // Twilio's RestException: `code` is Twilio's error code, `status` the HTTP status.
  if ((typeof e.code === "number" && e.code !== status) || (typeof e.code === "string" && /^\d+$/.test(e.code))) return e.code;
  const body = bodyOf(e);
  if (isBag(body)) {
    if (typeof body.code === "number" || typeof body.code === "string") return body.code;
    if (typeof body.category === "string") return body.category;
  }
  return undefined;
}

function messageOf(e: Bag): string | undefined {
  const body = bodyOf(e);
  if (isBag(body)) {
    if (typeof body.message === "string" && body.message) return body.message;
    if (Array.isArray(body.errors) && isBag(body.errors[0]) && typeof body.errors[0].message === "string") return body.errors[0].message;
  }
  return typeof e.message === "string" && e.message ? e.message : undefined;
}

export function inspectError(err: unknown): ErrorFacts {
  const chain = chainOf(err);
  const facts: ErrorFacts = { networkCodes: [], timedOut: false, message: String(err) };
  for (const e of chain) {
    const status = statusOf(e);
    if (status !== undefined && facts.status === undefined) {
      facts.status = status;
      facts.providerCode = providerCodeOf(e, status);
      const headers = headersOf(e);
      facts.retryAfterMs = parseRetryAfter(headerValue(headers, "retry-after")) ?? (status === 429 ? parseRateLimitReset(headerValue(headers, "x-ratelimit-reset")) : undefined);
      facts.message = messageOf(e) ?? facts.message;
    }
    for (const code of [e.code, e.errno]) {
      if (typeof code === "string" && !facts.networkCodes.includes(code)) facts.networkCodes.push(code);
    }
    const name = typeof e.name === "string" ? e.name : "";
    const message = typeof e.message === "string" ? e.message : "";
    if (name === "TimeoutError" || name === "AbortError" || /time(d)? ?out/i.test(message)) facts.timedOut = true;
    if (/socket hang up/i.test(message) && !facts.networkCodes.includes("ECONNRESET")) facts.networkCodes.push("ECONNRESET");
  }
  if (facts.networkCodes.some((c) => TIMEOUT_CODES.has(c))) facts.timedOut = true;
  if (facts.status === undefined && chain[0] && typeof chain[0].message === "string") facts.message = chain[0].message;
  return facts;
}

function describe(facts: ErrorFacts): string {
  const parts = [facts.status !== undefined ? `HTTP ${facts.status}` : undefined, facts.providerCode !== undefined ? `code ${facts.providerCode}` : undefined];
  const tags = parts.filter(Boolean).join(", ");
  return tags ? `${tags}: ${facts.message}` : facts.message;
}

/** The provider provably did not take the message (a 5xx aside, which only usually means that). */
function notAccepted(provider: string, facts: ErrorFacts, err: unknown): NotAcceptedError | undefined {
  const { status } = facts;
  if (status === 429) {
    return new NotAcceptedError(`${provider} rate-limited the request (${describe(facts)}); retry after ${facts.retryAfterMs ?? "a backoff"} ms`, {
      ...(facts.retryAfterMs !== undefined && { retryAfterMs: facts.retryAfterMs }),
      status,
      cause: err,
    });
  }
  // 408: the provider gave up waiting for our request, so it never had a whole one to act on.
  if (status === 408) return new NotAcceptedError(`${provider} timed out reading the request (${describe(facts)}); safe to retry`, { status, cause: err });
  if (status !== undefined && status >= 500) {
    return new NotAcceptedError(`${provider} answered ${describe(facts)}; the message was most likely not created: look it up (where the channel can) before sending again`, {
      needsLookup: true,
      status,
      ...(facts.retryAfterMs !== undefined && { retryAfterMs: facts.retryAfterMs }),
      cause: err,
    });
  }
  if (status === undefined && facts.networkCodes.some((c) => NOT_SENT_CODES.has(c))) {
    return new NotAcceptedError(`${provider} could not be reached (${facts.networkCodes.join(", ")}): the request never left; safe to retry`, { cause: err });
  }
  return undefined;
}

function permanent(provider: string, facts: ErrorFacts, err: unknown): PermanentProviderError | undefined {
  const { status } = facts;
  if (status === undefined || status < 400 || status >= 500 || status === 429 || status === 408) return undefined;
  return new PermanentProviderError(`${provider} rejected the request for good (${describe(facts)}); do not retry, fix the request or the recipient`, {
    code: facts.providerCode ?? status,
    status,
    cause: err,
  });
}

function isProviderError(err: unknown): err is NotAcceptedError | PermanentProviderError | AmbiguousSendError {
  return err instanceof NotAcceptedError || err instanceof PermanentProviderError || err instanceof AmbiguousSendError;
}

/**
 * Classifies an error thrown while SENDING a message (not idempotent: a second send is a second message).
 * - never reached the provider (refused, DNS, TLS) -> NotAcceptedError
 * - 429 -> NotAcceptedError with retryAfterMs; 5xx -> NotAcceptedError with needsLookup
 * - other 4xx -> PermanentProviderError with the provider's code
 * - timeout, reset / socket hang up after the request left, anything unrecognised -> AmbiguousSendError.
 *   A reset before the provider accepted and one after it accepted look the same from here: both are ambiguous.
 */
export function classifySendError(err: unknown, provider: string): NotAcceptedError | PermanentProviderError | AmbiguousSendError {
  if (isProviderError(err)) return err;
  const facts = inspectError(err);
  const known = notAccepted(provider, facts, err) ?? permanent(provider, facts, err);
  if (known) return known;
  const what = facts.timedOut ? "no answer in time" : facts.networkCodes.length > 0 ? facts.networkCodes.join(", ") : "unrecognised error";
  return new AmbiguousSendError(
    `${provider} may or may not have accepted the message (${what}: ${describe(facts)}); mark the delivery unknown and reconcile, never resend blindly`,
    { cause: err },
  );
}

/**
 * Classifies an error of an IDEMPOTENT call (a CRM update with absolute values, a lookup): repeating it cannot do
 * harm, so every transient failure, ambiguous ones included, is NotAcceptedError; 4xx other than 408/429 stay final.
 */
export function classifyIdempotentError(err: unknown, provider: string): NotAcceptedError | PermanentProviderError {
  if (err instanceof NotAcceptedError || err instanceof PermanentProviderError) return err;
  const facts = inspectError(err);
  const known = notAccepted(provider, facts, err) ?? permanent(provider, facts, err);
  if (known) return known;
  return new NotAcceptedError(`${provider} call failed (${describe(facts)}); the call is idempotent: safe to retry`, {
    ...(facts.status !== undefined && { status: facts.status }),
    cause: err,
  });
}
