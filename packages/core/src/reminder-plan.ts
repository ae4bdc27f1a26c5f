import { CHANNELS, type Channel } from "./channel";

/** One step of an appointment's reminder plan: which channel, and how long before the start it becomes due. */
export interface ReminderStep {
  step: number;
  channel: Channel;
  leadMinutes: number;
}

export type ReminderPlan = readonly ReminderStep[];

/** Email the day before, SMS two hours before, a call half an hour before. */
export const DEFAULT_REMINDER_PLAN: ReminderPlan = [
  { step: 1, channel: "email", leadMinutes: 24 * 60 },
  { step: 2, channel: "sms", leadMinutes: 120 },
  { step: 3, channel: "voice", leadMinutes: 30 },
];

export function validatePlan(plan: ReminderPlan): ReminderPlan {
  if (plan.length === 0) throw new RangeError("A reminder plan needs at least one step");
  plan.forEach((s, i) => {
    if (s.step !== i + 1) throw new RangeError(`Reminder plan steps must be numbered 1..n in order; step ${i + 1} is ${s.step}`);
    if (!(s.leadMinutes > 0)) throw new RangeError(`Reminder step ${s.step}: leadMinutes must be positive`);
    const prev = plan[i - 1];
    if (prev && s.leadMinutes >= prev.leadMinutes) {
      throw new RangeError(`Reminder step ${s.step} must come later than step ${prev.step} (smaller leadMinutes)`);
    }
  });
  return plan;
}

/**
 * Reads a plan written as `channel:leadMinutes` pairs, earliest first, e.g. `email:1440,sms:120,voice:30`
 * (the default). Lead times may be fractional (the chaos suite runs a plan measured in seconds).
 */
export function parsePlan(text: string): ReminderPlan {
  const steps = text.split(",").map((part, i) => {
    const [channel, lead] = part.trim().split(":");
    if (!CHANNELS.includes(channel as Channel) || lead === undefined || !(Number(lead) > 0)) {
      throw new RangeError(`Reminder plan step ${i + 1} is "${part.trim()}": expected channel:leadMinutes with channel one of ${CHANNELS.join(", ")}`);
    }
    return { step: i + 1, channel: channel as Channel, leadMinutes: Number(lead) };
  });
  return validatePlan(steps);
}

export function maxLeadMinutes(plan: ReminderPlan): number {
  return Math.max(...plan.map((s) => s.leadMinutes));
}

/**
 * The one step worth sending now: the latest step already due. Earlier due steps are superseded rather than sent in
 * a burst (a recipient whose reminders piled up during an outage gets the most useful one, not all of them).
 * Undefined once the appointment has started: a reminder after the start is useless.
 */
export function dueStep(plan: ReminderPlan, startsAt: Date, now: Date): ReminderStep | undefined {
  if (now.getTime() >= reminderDeadline(startsAt).getTime()) return undefined;
  let due: ReminderStep | undefined;
  for (const s of plan) {
    if (startsAt.getTime() - s.leadMinutes * 60_000 <= now.getTime()) due = s;
  }
  return due;
}

/**
 * When the step after `afterStep` becomes due: the scheduler's next look at this appointment. Undefined when no
 * later step exists, so the appointment needs no further look unless it changes.
 */
export function nextStepDueAt(plan: ReminderPlan, startsAt: Date, afterStep: number): Date | undefined {
  const next = plan.find((s) => s.step > afterStep);
  return next ? new Date(startsAt.getTime() - next.leadMinutes * 60_000) : undefined;
}

/** A reminder is useless once the appointment has begun. */
export function reminderDeadline(startsAt: Date): Date {
  return new Date(startsAt.getTime());
}

export function reminderText(input: { name: string; startsAt: Date; timezone: string; channel: Channel }): {
  subject: string;
  body: string;
} {
  const when = new Intl.DateTimeFormat("en-GB", {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    timeZone: input.timezone,
    timeZoneName: "short",
  }).format(input.startsAt);
  const firstName = input.name.split(" ")[0] ?? input.name;
  const body =
    input.channel === "voice"
      ? `Hello ${firstName}. This is a reminder of your appointment on ${when}.`
      : `Hi ${firstName}, a reminder of your appointment on ${when}.`;
  return { subject: `Reminder: your appointment on ${when}`, body };
}
