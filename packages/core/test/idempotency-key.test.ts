import { assertValidKey, compactInstant, reminderKey } from "../src";

describe("reminderKey", () => {
  const fact = { appointmentId: 42, startsAt: new Date("2026-11-24T09:00:00.000Z"), step: 2 };

  it("derives the key from the business fact alone", () => {
    expect(reminderKey(fact)).toBe("reminder.appt-42.at-20261124T090000Z.step-2");
    expect(reminderKey({ ...fact })).toBe(reminderKey(fact));
  });

  it("differs when the appointment moves or the step changes", () => {
    expect(reminderKey({ ...fact, startsAt: new Date("2026-11-24T10:00:00Z") })).not.toBe(reminderKey(fact));
    expect(reminderKey({ ...fact, step: 3 })).not.toBe(reminderKey(fact));
  });

  it("never contains BullMQ's separator", () => {
    expect(reminderKey(fact)).not.toContain(":");
    expect(compactInstant(new Date("2026-01-02T03:04:05.000Z"))).toBe("20260102T030405Z");
    expect(compactInstant(new Date("2026-01-02T03:04:05.678Z"))).toBe("20260102T030405.678Z");
  });

  it("rejects facts that cannot name a reminder", () => {
    expect(() => reminderKey({ ...fact, appointmentId: 0 })).toThrow(/appointmentId must be a positive integer/);
    expect(() => reminderKey({ ...fact, step: 1.5 })).toThrow(/step must be a positive integer/);
    expect(() => reminderKey({ ...fact, startsAt: new Date("nope") })).toThrow(/invalid date/);
  });
});

describe("assertValidKey", () => {
  it("accepts keys usable as jobIds and names the fix for others", () => {
    expect(assertValidKey("welcome.user-7")).toBe("welcome.user-7");
    expect(() => assertValidKey("a:b")).toThrow(/no ":"/);
    expect(() => assertValidKey("")).toThrow(/1-200 characters/);
  });
});

// Hole 9: keys dropped milliseconds while starts_at keeps them, so a reschedule within the same second reused a key.
test("a reschedule within the same second is a new fact with a new key, and still a valid jobId", () => {
  const before = reminderKey({ appointmentId: 7, startsAt: new Date("2026-11-24T09:00:00.000Z"), step: 1 });
  const after = reminderKey({ appointmentId: 7, startsAt: new Date("2026-11-24T09:00:00.400Z"), step: 1 });
  expect(after).not.toBe(before);
  expect(after).toBe("reminder.appt-7.at-20261124T090000.400Z.step-1");
  expect(assertValidKey(after)).toBe(after);
});
