import { z } from "zod";

/**
 * Every job Nudge runs, in one place: its queue, its payload schema, and how it is retried. Producers and workers
 * both take their settings from here, so a payload that one side writes is the payload the other side checks.
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

export interface JobContract<S extends z.ZodType> {
  queue: string;
  name: string;
  schema: S;
  attempts: number;
  /** Base delay of Nudge's backoff: exponential with jitter, or the provider's Retry-After when it gave one. */
  backoffMs: number;
}

export const JOBS = {
  reminder: {
    queue: "reminders",
    name: "send-reminder",
    schema: reminderPayload,
    // ~8 attempts over a few minutes at the default base delay; the delivery's deadline bounds it in any case.
    attempts: 8,
    backoffMs: 2_000,
  },
} as const satisfies Record<string, JobContract<z.ZodType>>;

export type JobKind = keyof typeof JOBS;
export type PayloadOf<K extends JobKind> = z.infer<(typeof JOBS)[K]["schema"]>;
