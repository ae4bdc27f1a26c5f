import { z } from "zod";
import { type ContactRef, contactRefSchema, externalIdSchema } from "./contact-ref";
import { campaignIdSchema } from "./source-name";

/** An instant with its offset (`Z` or `+02:00`): a date-time without one means a different instant in every zone. */
const instant = (field: string) =>
  z.iso.datetime({ offset: true, error: `${field} is an ISO 8601 date-time with an offset, e.g. "2026-11-24T09:00:00Z"` });

const smsMessage = z.strictObject({
  contact: contactRefSchema,
  channel: z.literal("sms"),
  subject: z.undefined({ error: "an SMS has no subject; leave subject out (it is for email)" }).optional(),
  body: z.string()
    .min(1, { error: "a body may not be empty" })
    .max(1600, { error: "an SMS body is at most 1600 characters" }),
  /** After this instant the message is skipped, not sent late (Nudge applies a default when it is absent). */
  deadline: instant("deadline").optional(),
});

const emailMessage = z.strictObject({
  contact: contactRefSchema,
  channel: z.literal("email"),
  subject: z
    .string({ error: "an email needs a subject" })
    .min(1, { error: "an email's subject may not be empty" })
    .max(998, { error: "an email's subject is at most 998 characters" }),
  body: z.string()
    .min(1, { error: "a body may not be empty" })
    .max(100_000, { error: "an email body is at most 100000 characters" }),
  deadline: instant("deadline").optional(),
});

const appointmentRef = z.strictObject({ appointmentId: externalIdSchema });

/**
 * Every request another service can make of Nudge, by kind: the payload schema the client checks before it writes a
 * row, and the relay checks again before it acts on one, from this one definition.
 */
export const requestSchemas = {
  /** A one-off email or SMS, part of no plan or campaign. */
  "message.send": z.discriminatedUnion("channel", [smsMessage, emailMessage], {
    error: 'channel is "sms" or "email"',
  }),
  /** Create an appointment, or move it (a later version with another start): its reminders follow the newest start. */
  "appointment.schedule": z.strictObject({
    appointmentId: externalIdSchema,
    contact: contactRefSchema,
    startsAt: instant("startsAt"),
  }),
  /** Cancel an appointment: no reminder for it is sent after the cancel is relayed, whatever the order of arrival. */
  "appointment.cancel": appointmentRef,
  /** The contact confirmed: the remaining reminders are not needed. */
  "appointment.confirm": appointmentRef,
  /** Enrol a lead in a drip campaign; `reenroll` starts another round once the previous one has ended. */
  "lead.enroll": z.strictObject({
    contact: contactRefSchema,
    campaignId: campaignIdSchema,
    reenroll: z.boolean().optional(),
  }),
  /** Stop a lead's drips: in one campaign, or in all of them when campaignId is absent. */
  "lead.stop": z.strictObject({
    contactId: externalIdSchema,
    campaignId: campaignIdSchema.optional(),
    reason: z.string()
      .min(1, { error: "a reason may not be empty" })
      .max(500, { error: "a reason is at most 500 characters" }),
  }),
} as const;

export type RequestKind = keyof typeof requestSchemas;
export const REQUEST_KINDS = Object.keys(requestSchemas) as readonly RequestKind[];

/**
 * The kinds whose requests change a versioned subject. Each carries the subject's version, which must grow with every
 * change the caller makes to it: Nudge applies a request only when its version is newer than the one it last applied,
 * so a cancel relayed before the creation it follows still wins.
 */
export const VERSIONED_KINDS = ["appointment.schedule", "appointment.cancel", "appointment.confirm"] as const;
export type VersionedKind = (typeof VERSIONED_KINDS)[number];

export function isRequestKind(kind: unknown): kind is RequestKind {
  return typeof kind === "string" && Object.hasOwn(requestSchemas, kind);
}

export function isVersionedKind(kind: RequestKind): kind is VersionedKind {
  return (VERSIONED_KINDS as readonly string[]).includes(kind);
}

/** A ContactRef in place of the schema's contact, whose "phone or email" rule only run time can check. */
type WithContactRef<T> = T extends { contact: unknown } ? Omit<T, "contact"> & { contact: ContactRef } : T;

/** The payload of a request kind, as written and as read back. */
export type PayloadOf<K extends RequestKind> = WithContactRef<z.output<(typeof requestSchemas)[K]>>;

/** The versioned subject a request changes: `appointment:<appointmentId>`, or none. */
export function subjectOf<K extends RequestKind>(kind: K, payload: PayloadOf<K>): string | null {
  if (!isVersionedKind(kind)) return null;
  return `appointment:${(payload as PayloadOf<VersionedKind>).appointmentId}`;
}
