import { z } from "zod";

/**
 * Every job Nudge runs, in one place: its queue, its payload schema, and how it is retried. Producers and workers
 * both take their settings from here (`enqueue`, `createQueue`, `createWorker`), so a payload that one side writes
 * is the payload the other side checks, and no app writes job options by hand.
 */

export const reminderPayload = z.object({
  /** The idempotency key, also the jobId (see reminderKey in @nudge/core). */
  key: z.string().min(1),
  appointmentId: z.number().int().positive(),
  /** The appointment start the reminder was made for. */
  startsAt: z.iso.datetime(),
  step: z.number().int().positive(),
});
export type ReminderPayload = z.infer<typeof reminderPayload>;

export const dripPayload = z.object({
  /** The idempotency key of the step's delivery, also the jobId (see dripKey in @nudge/core). */
  key: z.string().min(1),
  enrollmentId: z.number().int().positive(),
  /** The step's id in its campaign (stable across versions). */
  stepId: z.string().min(1),
});
export type DripPayload = z.infer<typeof dripPayload>;

export const oneOffPayload = z.object({
  /** The idempotency key of the message's delivery, also the jobId (see oneOffKey in @nudge/core). */
  key: z.string().min(1),
  /** The one_off_messages row: the job carries its id, never a payload that exists nowhere else. */
  messageId: z.number().int().positive(),
});
export type OneOffPayload = z.infer<typeof oneOffPayload>;

export interface JobContract<S extends z.ZodType> {
  queue: string;
  name: string;
  schema: S;
  /**
   * Not a retry budget: a job is retried until its message's deadline (the send guard settles it then), so this is
   * only a ceiling far above any real outage.
   */
  attempts: number;
  /** Base delay of Nudge's backoff: exponential with jitter, or the error's own retryAfterMs when it has one. */
  backoffMs: number;
  /** The largest delay between attempts, so that the end of an outage is noticed within this long. */
  maxBackoffMs: number;
}

export const JOBS = {
  reminder: {
    queue: "reminders",
    name: "send-reminder",
    schema: reminderPayload,
    attempts: 1_000_000,
    backoffMs: 2_000,
    maxBackoffMs: 60_000,
  },
  "one-off": {
    queue: "one-off-messages",
    name: "send-one-off",
    schema: oneOffPayload,
    attempts: 1_000_000,
    backoffMs: 2_000,
    maxBackoffMs: 60_000,
  },
  drip: {
    queue: "drips",
    name: "send-drip-step",
    schema: dripPayload,
    attempts: 1_000_000,
    backoffMs: 2_000,
    maxBackoffMs: 60_000,
  },
} as const satisfies Record<string, JobContract<z.ZodType>>;

export type JobKind = keyof typeof JOBS;
export type PayloadOf<K extends JobKind> = z.infer<(typeof JOBS)[K]["schema"]>;
