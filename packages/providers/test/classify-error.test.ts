import { AmbiguousSendError, NotAcceptedError, PermanentProviderError } from "@nudge/core";
import twilio from "twilio";
import { classifyIdempotentError, classifySendError, parseRetryAfter } from "../src";

const withProps = <T extends object>(err: Error, props: T): Error & T => Object.assign(err, props);

// Shapes as the SDKs and HTTP stacks throw them (taken from their sources), built without a network.
const shapes = {
  twilioUnsubscribed: new twilio.RestException({ statusCode: 400, body: { code: 21610, message: "Attempt to send to unsubscribed recipient", more_info: "https://www.twilio.com/docs/errors/21610", status: 400 } }),
  twilio429: withProps(new twilio.RestException({ statusCode: 429, body: { code: 20429, message: "Too Many Requests", status: 429 } }), { headers: { "retry-after": "2" } }),
  twilio500: new twilio.RestException({ statusCode: 500, body: { code: 20500, message: "Internal Server Error", status: 500 } }),
  axiosRefused: withProps(new Error("connect ECONNREFUSED 127.0.0.1:1"), { isAxiosError: true, code: "ECONNREFUSED" }),
  axiosTimeout: withProps(new Error("timeout of 300ms exceeded"), { isAxiosError: true, code: "ECONNABORTED" }),
  axiosHangUp: withProps(new Error("socket hang up"), { isAxiosError: true, code: "ECONNRESET" }),
  axios503: withProps(new Error("Request failed with status code 503"), {
    isAxiosError: true,
    code: "ERR_BAD_RESPONSE",
    response: { status: 503, data: "unavailable", headers: { get: (name: string) => (name === "retry-after" ? "4" : undefined) } },
  }),
  sendGridBadRequest: withProps(new Error("Bad Request"), { code: 400, response: { headers: {}, body: { errors: [{ message: "The from object must be provided", field: "from", help: null }] } } }),
  sendGrid502: withProps(new Error("Bad Gateway"), { code: 502, response: { headers: {}, body: "" } }),
  hubSpotNotFound: withProps(new Error("HTTP-Code: 404"), { code: 404, body: { status: "error", category: "OBJECT_NOT_FOUND", message: "resource not found" }, headers: {} }),
  hubSpot429: withProps(new Error("HTTP-Code: 429"), { code: 429, body: { status: "error", category: "RATE_LIMITS", message: "secondly limit" }, headers: { "retry-after": "10" } }),
  nodeFetchRefused: withProps(new Error("request to http://127.0.0.1:1/x failed, reason: connect ECONNREFUSED"), { name: "FetchError", type: "system", code: "ECONNREFUSED", errno: "ECONNREFUSED" }),
  nodeFetchReset: withProps(new Error("request to http://127.0.0.1:1/x failed, reason: socket hang up"), { name: "FetchError", type: "system", code: "ECONNRESET", errno: "ECONNRESET" }),
  undiciRefused: new TypeError("fetch failed", { cause: withProps(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }) }),
  undiciDns: new TypeError("fetch failed", { cause: withProps(new Error("getaddrinfo ENOTFOUND api.example"), { code: "ENOTFOUND" }) }),
  undiciClosed: new TypeError("fetch failed", { cause: withProps(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) }),
  abortTimeout: withProps(new Error("The operation was aborted due to timeout"), { name: "TimeoutError" }),
  happyEyeballs: withProps(new AggregateError([withProps(new Error("connect ECONNREFUSED ::1:1"), { code: "ECONNREFUSED" }), withProps(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" })], ""), { code: "ECONNREFUSED" }),
  unknown: new Error("boom"),
};

describe("classifySendError", () => {
  test.each([
    ["axiosRefused"],
    ["nodeFetchRefused"],
    ["undiciRefused"],
    ["undiciDns"],
    ["happyEyeballs"],
  ] as const)("%s never left: NotAcceptedError without lookup", (shape) => {
    const err = classifySendError(shapes[shape], "P");
    expect(err).toBeInstanceOf(NotAcceptedError);
    expect(err).toMatchObject({ needsLookup: false, status: undefined, retryAfterMs: undefined });
    expect((err as Error).cause).toBe(shapes[shape]);
  });

  test.each([
    ["twilio429", 2000],
    ["hubSpot429", 10000],
  ] as const)("%s: NotAcceptedError with retryAfterMs", (shape, retryAfterMs) => {
    expect(classifySendError(shapes[shape], "P")).toMatchObject({ name: "NotAcceptedError", status: 429, retryAfterMs, needsLookup: false });
  });

  test.each([
    ["twilio500", 500, undefined],
    ["axios503", 503, 4000],
    ["sendGrid502", 502, undefined],
  ] as const)("%s: an answered 5xx is NotAcceptedError that needs a lookup", (shape, status, retryAfterMs) => {
    const err = classifySendError(shapes[shape], "P");
    expect(err).toBeInstanceOf(NotAcceptedError);
    expect(err).toMatchObject({ needsLookup: true, status, retryAfterMs });
  });

  test.each([
    ["twilioUnsubscribed", 21610, 400, /unsubscribed/],
    ["sendGridBadRequest", 400, 400, /from object/],
    ["hubSpotNotFound", "OBJECT_NOT_FOUND", 404, /resource not found/],
  ] as const)("%s: other 4xx are PermanentProviderError with the provider's code", (shape, code, status, message) => {
    const err = classifySendError(shapes[shape], "P");
    expect(err).toBeInstanceOf(PermanentProviderError);
    expect(err).toMatchObject({ code, status });
    expect(err.message).toMatch(message);
  });

  test.each([["axiosTimeout"], ["axiosHangUp"], ["nodeFetchReset"], ["undiciClosed"], ["abortTimeout"], ["unknown"]] as const)(
    "%s may have reached the provider: AmbiguousSendError",
    (shape) => {
      const err = classifySendError(shapes[shape], "P");
      expect(err).toBeInstanceOf(AmbiguousSendError);
      expect(err.message).toMatch(/mark the delivery unknown/);
    },
  );

  test("SendGrid's 429 without Retry-After: the wait comes from X-RateLimit-Reset", () => {
    const reset = String(Math.floor(Date.now() / 1000) + 60);
    const err = classifySendError(withProps(new Error("Too Many Requests"), { code: 429, response: { headers: { "x-ratelimit-reset": reset }, body: { errors: [] } } }), "SendGrid");
    expect(err).toMatchObject({ name: "NotAcceptedError", status: 429 });
    expect((err as NotAcceptedError).retryAfterMs).toBeGreaterThan(55_000);
    expect((err as NotAcceptedError).retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  test("a timeout says so", () => {
    expect(classifySendError(shapes.axiosTimeout, "Twilio SMS").message).toMatch(/^Twilio SMS may or may not have accepted the message \(no answer in time/);
  });

  test("an error already classified passes through", () => {
    const original = new PermanentProviderError("final", { code: 21610 });
    expect(classifySendError(original, "P")).toBe(original);
  });

  test("the cause chain is walked", () => {
    const wrapped = new Error("send failed", { cause: new Error("inner", { cause: shapes.twilioUnsubscribed }) });
    expect(classifySendError(wrapped, "P")).toMatchObject({ name: "PermanentProviderError", code: 21610 });
  });
});

describe("classifyIdempotentError", () => {
  test.each([["axiosTimeout"], ["axiosHangUp"], ["nodeFetchReset"], ["unknown"], ["nodeFetchRefused"], ["sendGrid502"]] as const)(
    "%s: retryable NotAcceptedError",
    (shape) => {
      expect(classifyIdempotentError(shapes[shape], "HubSpot")).toBeInstanceOf(NotAcceptedError);
    },
  );

  test("4xx other than 429 stay permanent; 429 keeps its Retry-After", () => {
    expect(classifyIdempotentError(shapes.hubSpotNotFound, "HubSpot")).toBeInstanceOf(PermanentProviderError);
    expect(classifyIdempotentError(shapes.hubSpot429, "HubSpot")).toMatchObject({ name: "NotAcceptedError", retryAfterMs: 10000 });
  });
});

describe("parseRetryAfter", () => {
  test("delta-seconds, HTTP dates, garbage", () => {
    expect(parseRetryAfter("5")).toBe(5000);
    expect(parseRetryAfter("0.5")).toBe(500);
    const now = Date.parse("2026-11-24T09:00:00Z");
    expect(parseRetryAfter("Tue, 24 Nov 2026 09:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Tue, 24 Nov 2026 08:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
