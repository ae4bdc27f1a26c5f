import { emptyWindowReason, nextSendTime, resolveTimeZone, type SendWindow } from "../src";

const at = (iso: string) => new Date(iso);
const iso = (d: Date) => d.toISOString();
const OFFICE: SendWindow = { start: "09:00", end: "17:00" };

describe("nextSendTime", () => {
  it("returns the due time itself when there is no window, or when it is inside the window", () => {
    expect(iso(nextSendTime(at("2026-06-01T03:00:00Z"), undefined, "America/New_York"))).toBe("2026-06-01T03:00:00.000Z");
    expect(iso(nextSendTime(at("2026-06-01T14:30:15.250Z"), OFFICE, "America/New_York"))).toBe("2026-06-01T14:30:15.250Z");
  });

  it("treats the end as exclusive", () => {
    // 17:00 EDT on Monday 2026-06-01 is outside: Tuesday 09:00 EDT.
    expect(iso(nextSendTime(at("2026-06-01T21:00:00Z"), OFFICE, "America/New_York"))).toBe("2026-06-02T13:00:00.000Z");
  });

  describe("America/New_York", () => {
    it("spring forward (2026-03-08): the next 09:00 is 13:00Z, not 24 hours after the previous one", () => {
      // Saturday 18:00 EST -> Sunday 09:00 EDT.
      expect(iso(nextSendTime(at("2026-03-07T23:00:00Z"), OFFICE, "America/New_York"))).toBe("2026-03-08T13:00:00.000Z");
      expect(iso(nextSendTime(at("2026-03-07T13:59:00Z"), OFFICE, "America/New_York"))).toBe("2026-03-07T14:00:00.000Z");
    });

    it("spring forward: a window opening inside the skipped hour opens when the clock jumps, 03:00 EDT", () => {
      expect(iso(nextSendTime(at("2026-03-08T05:00:00Z"), { start: "02:30", end: "04:00" }, "America/New_York"))).toBe("2026-03-08T07:00:00.000Z");
    });

    it("fall back (2026-11-01): the next 09:00 is 14:00Z (EST)", () => {
      expect(iso(nextSendTime(at("2026-10-31T22:00:00Z"), OFFICE, "America/New_York"))).toBe("2026-11-01T14:00:00.000Z");
    });

    it("fall back: the repeated hour is inside the window twice", () => {
      const window = { start: "01:30", end: "01:45" };
      // 01:40 EDT: inside.
      expect(iso(nextSendTime(at("2026-11-01T05:40:00Z"), window, "America/New_York"))).toBe("2026-11-01T05:40:00.000Z");
      // 01:50 EDT: outside; the clock reads 01:30 again at 06:30Z (EST).
      expect(iso(nextSendTime(at("2026-11-01T05:50:00Z"), window, "America/New_York"))).toBe("2026-11-01T06:30:00.000Z");
    });

    it("a days restriction skips the weekend", () => {
      const weekdays: SendWindow = { ...OFFICE, days: ["mon", "tue", "wed", "thu", "fri"] };
      // Friday 2026-06-05 18:00 EDT -> Monday 2026-06-08 09:00 EDT.
      expect(iso(nextSendTime(at("2026-06-05T22:00:00Z"), weekdays, "America/New_York"))).toBe("2026-06-08T13:00:00.000Z");
    });
  });

  describe("Europe/Berlin", () => {
    const DAY: SendWindow = { start: "08:00", end: "20:00" };
    it("spring forward (2026-03-29): Saturday 21:00 CET -> Sunday 08:00 CEST = 06:00Z", () => {
      expect(iso(nextSendTime(at("2026-03-28T20:00:00Z"), DAY, "Europe/Berlin"))).toBe("2026-03-29T06:00:00.000Z");
    });
    it("fall back (2026-10-25): Saturday 21:00 CEST -> Sunday 08:00 CET = 07:00Z", () => {
      expect(iso(nextSendTime(at("2026-10-24T19:00:00Z"), DAY, "Europe/Berlin"))).toBe("2026-10-25T07:00:00.000Z");
    });
    it("fall back: a window over the repeated hour 02:00-03:00 holds both of them", () => {
      const night = { start: "02:00", end: "03:00" };
      expect(iso(nextSendTime(at("2026-10-24T23:30:00Z"), night, "Europe/Berlin"))).toBe("2026-10-25T00:00:00.000Z");
      // 02:30 CEST is inside; so is 02:30 CET an hour later.
      expect(iso(nextSendTime(at("2026-10-25T00:30:00Z"), night, "Europe/Berlin"))).toBe("2026-10-25T00:30:00.000Z");
      expect(iso(nextSendTime(at("2026-10-25T01:30:00Z"), night, "Europe/Berlin"))).toBe("2026-10-25T01:30:00.000Z");
    });
  });

  describe("a window that crosses midnight (22:00-06:00)", () => {
    const NIGHT: SendWindow = { start: "22:00", end: "06:00" };
    it("opens in the evening and is still open after midnight", () => {
      expect(iso(nextSendTime(at("2026-06-01T10:00:00Z"), NIGHT, "Europe/Berlin"))).toBe("2026-06-01T20:00:00.000Z");
      expect(iso(nextSendTime(at("2026-06-02T01:00:00Z"), NIGHT, "Europe/Berlin"))).toBe("2026-06-02T01:00:00.000Z");
      // 06:00 local is the end (exclusive).
      expect(iso(nextSendTime(at("2026-06-02T04:00:00Z"), NIGHT, "Europe/Berlin"))).toBe("2026-06-02T20:00:00.000Z");
    });
    it("belongs to the day it opens on", () => {
      const friday = { ...NIGHT, days: ["fri" as const] };
      // Saturday 03:00 CEST: inside Friday's window.
      expect(iso(nextSendTime(at("2026-06-06T01:00:00Z"), friday, "Europe/Berlin"))).toBe("2026-06-06T01:00:00.000Z");
      // Saturday 07:00 CEST: the next Friday 22:00 CEST.
      expect(iso(nextSendTime(at("2026-06-06T05:00:00Z"), friday, "Europe/Berlin"))).toBe("2026-06-12T20:00:00.000Z");
    });
  });

  it("an invalid zone falls back to the given fallback, then UTC", () => {
    expect(resolveTimeZone("Mars/Olympus", "Europe/Berlin")).toBe("Europe/Berlin");
    expect(resolveTimeZone("Mars/Olympus", "Nowhere/Else")).toBe("UTC");
    expect(resolveTimeZone(undefined)).toBe("UTC");
    expect(iso(nextSendTime(at("2026-06-01T05:00:00Z"), OFFICE, "Mars/Olympus", "Europe/Berlin"))).toBe("2026-06-01T07:00:00.000Z");
    expect(iso(nextSendTime(at("2026-06-01T05:00:00Z"), OFFICE, "Mars/Olympus"))).toBe("2026-06-01T09:00:00.000Z");
  });

  it("refuses an empty window", () => {
    expect(emptyWindowReason({ start: "09:00", end: "09:00" })).toMatch(/empty/);
    expect(emptyWindowReason({ start: "09:00", end: "10:00", days: [] })).toMatch(/never opens/);
    expect(() => nextSendTime(new Date(), { start: "09:00", end: "09:00" }, "UTC")).toThrow(/empty/);
  });
});
