import { DEFAULT_REMINDER_PLAN, dueStep, parsePlan, reminderText, validatePlan } from "../src";

const startsAt = new Date("2026-11-24T09:00:00Z");
const at = (minutesBefore: number) => new Date(startsAt.getTime() - minutesBefore * 60_000);

describe("dueStep", () => {
  it("is nothing before the first step's lead time", () => {
    expect(dueStep(DEFAULT_REMINDER_PLAN, startsAt, at(25 * 60))).toBeUndefined();
  });

  it("is the latest due step, so a backlog collapses into the most useful reminder", () => {
    expect(dueStep(DEFAULT_REMINDER_PLAN, startsAt, at(24 * 60))?.step).toBe(1);
    expect(dueStep(DEFAULT_REMINDER_PLAN, startsAt, at(119))?.step).toBe(2);
    expect(dueStep(DEFAULT_REMINDER_PLAN, startsAt, at(10))?.step).toBe(3);
  });

  it("is nothing once the appointment has started", () => {
    expect(dueStep(DEFAULT_REMINDER_PLAN, startsAt, at(0))).toBeUndefined();
  });
});

describe("validatePlan", () => {
  it("rejects plans whose steps are out of order", () => {
    expect(() => validatePlan([{ step: 1, channel: "sms", leadMinutes: 10 }, { step: 2, channel: "sms", leadMinutes: 20 }])).toThrow(
      /must come later/,
    );
    expect(validatePlan(DEFAULT_REMINDER_PLAN)).toBe(DEFAULT_REMINDER_PLAN);
  });
});

describe("reminderText", () => {
  it("speaks the contact's time zone", () => {
    const text = reminderText({ name: "Ada Lovelace", startsAt, timezone: "Europe/Berlin", channel: "sms" });
    expect(text.body).toMatch(/^Hi Ada, .*10:00/);
    expect(text.subject).toMatch(/^Reminder: /);
  });
});

describe("parsePlan", () => {
  it("reads channel:leadMinutes pairs, earliest first", () => {
    expect(parsePlan("email:1440,sms:120,voice:30")).toEqual(DEFAULT_REMINDER_PLAN);
    expect(parsePlan("sms:0.5")).toEqual([{ step: 1, channel: "sms", leadMinutes: 0.5 }]);
  });

  it("names the bad step", () => {
    expect(() => parsePlan("email:60,fax:30")).toThrow(/step 2 is "fax:30": expected channel:leadMinutes/);
    expect(() => parsePlan("sms:30,voice:60")).toThrow(/must come later/);
  });
});
