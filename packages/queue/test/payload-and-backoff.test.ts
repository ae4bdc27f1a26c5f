import { ClaimHeldError, InvalidPayloadError, NotAcceptedError } from "@nudge/core";
import { backoffDelay, parsePayload } from "../src";

describe("parsePayload", () => {
  const valid = { key: "reminder.appt-1.at-20261124T090000Z.step-1", appointmentId: 1, startsAt: "2026-11-24T09:00:00.000Z", step: 1 };

  it("accepts a payload that matches the catalog", () => {
    expect(parsePayload("reminder", valid)).toEqual(valid);
  });

  it("names the offending field", () => {
    expect(() => parsePayload("reminder", { ...valid, appointmentId: "1" })).toThrow(InvalidPayloadError);
    expect(() => parsePayload("reminder", { ...valid, appointmentId: "1" })).toThrow(/appointmentId/);
    expect(() => parsePayload("reminder", { ...valid, startsAt: "tomorrow" })).toThrow(/startsAt/);
  });
});

describe("backoffDelay", () => {
  it("honours a provider's Retry-After", () => {
    expect(backoffDelay(3, 1000, new NotAcceptedError("429", { retryAfterMs: 7000 }))).toBe(7000);
  });

  it("waits out another attempt's claim lease", () => {
    expect(backoffDelay(5, 1000, new ClaimHeldError(7, 4321))).toBe(4321);
  });

  it("grows exponentially with bounded jitter", () => {
    expect(backoffDelay(1, 1000, undefined, () => 0.5)).toBe(1000);
    expect(backoffDelay(3, 1000, undefined, () => 0)).toBe(3200);
    expect(backoffDelay(3, 1000, undefined, () => 1)).toBe(4800);
    expect(backoffDelay(40, 1000, undefined, () => 0.5)).toBe(60_000);
    expect(backoffDelay(5000, 1000, undefined, () => 0.5, 5_000)).toBe(5_000);
  });

  it("never waits longer than the guard's share of the time left before the deadline", () => {
    const late = Object.assign(new Error("HTTP 500"), { retryWithinMs: 1_500 });
    expect(backoffDelay(20, 1000, late, () => 0.5)).toBe(1_500);
    expect(backoffDelay(1, 1000, late, () => 0.5)).toBe(1000);
  });
});
