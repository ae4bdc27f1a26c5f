import { isValidTimeZone } from "@nudge/campaigns";
import { z } from "zod";

/**
 * The payload of each request kind, as the caller's outbox row carries it.
 *
 * TODO(@nudge/client): the client package will export these as `requestSchemas`; when it lands, import them from
 * there and delete this file, so that what a caller writes and what the relay checks are one definition.
 */

const isoInstant = z.iso.datetime({ offset: true, message: "expected an ISO 8601 instant such as 2026-11-24T09:00:00Z" });

export const contactRef = z.object({
  /** The caller's own id for the contact. */
  id: z.string().min(1).max(200),
  name: z.string().min(1).max(200),
  phone: z
    .string()
    .regex(/^\+[1-9]\d{6,14}$/, { message: "expected an E.164 number such as +15005550006" })
    .optional(),
  email: z.email({ message: "expected an email address" }).max(320).optional(),
  timezone: z.string().refine(isValidTimeZone, { message: "expected an IANA time zone such as Europe/Berlin" }).optional(),
});
export type ContactRef = z.infer<typeof contactRef>;

const messageSend = z
  .object({
    contact: contactRef,
    channel: z.enum(["sms", "email"]),
    subject: z.string().min(1).max(998).optional(),
    body: z.string().min(1).max(100_000),
    /** After this instant the message is useless: skipped, never sent late. */
    deadline: isoInstant.optional(),
  })
  .refine((p) => (p.channel === "email") === (p.subject !== undefined), {
    message: "an email needs a subject, and an SMS has none",
    path: ["subject"],
  });

const appointmentId = z.string().min(1).max(200);

export const requestSchemas = {
  "message.send": messageSend,
  "appointment.schedule": z.object({ appointmentId, contact: contactRef, startsAt: isoInstant }),
  "appointment.cancel": z.object({ appointmentId }),
  "appointment.confirm": z.object({ appointmentId }),
  "lead.enroll": z.object({ contact: contactRef, campaignId: z.string().min(1).max(200), reenroll: z.boolean().optional() }),
  "lead.stop": z.object({ contactId: z.string().min(1).max(200), campaignId: z.string().min(1).max(200).optional(), reason: z.string().min(1).max(500) }),
} as const;

export type RequestKind = keyof typeof requestSchemas;
export type RequestPayload<K extends RequestKind> = z.infer<(typeof requestSchemas)[K]>;
/** A request whose payload passed its kind's schema, as a union the applier can switch on. */
export type CheckedRequest = { [K in RequestKind]: { kind: K; payload: RequestPayload<K> } }[RequestKind];

export const REQUEST_KINDS = Object.keys(requestSchemas) as RequestKind[];
