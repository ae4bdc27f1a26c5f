/**
 * Deterministic idempotency keys, derived only from the business fact, never from time of enqueue or randomness:
 * the same fact always gives the same key, so any number of scheduler passes, API retries or relays enqueue it once.
 * A key doubles as the BullMQ jobId, so it never contains ":" (BullMQ's separator) and is plain ASCII.
 */

/**
 * 2026-11-24T09:00:00.000Z -> 20261124T090000Z; 2026-11-24T09:00:00.250Z -> 20261124T090000.250Z. Milliseconds
 * appear only when there are some: a start stored with milliseconds is a different fact from the whole second
 * (a reschedule within the same second must not reuse the old start's key), while whole-second starts keep the keys
 * they always had, so that no delivery already recorded is keyed anew and sent again after an upgrade.
 */
export function compactInstant(at: Date): string {
  if (Number.isNaN(at.getTime())) throw new RangeError("compactInstant: invalid date");
  return at.toISOString().replace(/[-:]/g, "").replace(/\.000Z$/, "Z");
}

export interface ReminderFact {
  appointmentId: number;
  startsAt: Date;
  step: number;
}

/** `reminder.appt-42.at-20261124T090000Z.step-2`: appointment, the start it was made for, and the plan step. */
export function reminderKey(fact: ReminderFact): string {
  if (!Number.isInteger(fact.appointmentId) || fact.appointmentId <= 0) {
    throw new RangeError(`reminderKey: appointmentId must be a positive integer, got ${fact.appointmentId}`);
  }
  if (!Number.isInteger(fact.step) || fact.step <= 0) {
    throw new RangeError(`reminderKey: step must be a positive integer, got ${fact.step}`);
  }
  return `reminder.appt-${fact.appointmentId}.at-${compactInstant(fact.startsAt)}.step-${fact.step}`;
}

export interface DripFact {
  enrollmentId: number;
  /** The step's id in its campaign, which survives edits: a reordered or migrated step keeps its key. */
  stepId: string;
}

/** `drip.enr-7.step-welcome`: one enrollment (a lead's round in a campaign) and one step, whatever the version. */
export function dripKey(fact: DripFact): string {
  if (!Number.isInteger(fact.enrollmentId) || fact.enrollmentId <= 0) {
    throw new RangeError(`dripKey: enrollmentId must be a positive integer, got ${fact.enrollmentId}`);
  }
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(fact.stepId)) {
    throw new RangeError(`dripKey: stepId must be a slug (a-z, 0-9, single dashes), got ${JSON.stringify(fact.stepId)}`);
  }
  return `drip.enr-${fact.enrollmentId}.step-${fact.stepId}`;
}

/** `oneoff.msg-12`: one one-off message (one_off_messages row 12, itself unique per calling service and key). */
export function oneOffKey(messageId: number): string {
  if (!Number.isInteger(messageId) || messageId <= 0) throw new RangeError(`oneOffKey: messageId must be a positive integer, got ${messageId}`);
  return `oneoff.msg-${messageId}`;
}

const KEY_SHAPE = /^[A-Za-z0-9._|-]{1,200}$/;

/** Keys supplied from outside (an API caller's Idempotency-Key) must also be safe as jobIds. */
export function assertValidKey(key: string): string {
  if (!KEY_SHAPE.test(key)) {
    throw new RangeError(
      `Invalid idempotency key ${JSON.stringify(key)}: use 1-200 characters from A-Z a-z 0-9 . _ | - (no ":", BullMQ's separator)`,
    );
  }
  return key;
}
