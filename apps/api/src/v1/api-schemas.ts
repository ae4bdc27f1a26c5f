import { externalIdSchema, idempotencyKeySchema, type PayloadOf, type RequestKind, requestSchemas } from "@nudge/client";
import { z } from "zod";

/**
 * The HTTP API's routes and their bodies, built from @nudge/client's request schemas: a request over HTTP is the
 * same request as one written to an outbox, judged by the same definition, and the OpenAPI document is generated
 * from these very schemas (openapi-document.ts), so the document cannot drift from what is validated.
 */

/** The caller's version of an appointment: greater with every change it makes to it (see @nudge/client). */
const version = z
  .number({ error: (issue) => (issue.input === undefined ? "required" : "a version is a whole number") })
  .int({ error: "a version is a whole number" })
  .min(0, { error: "a version may not be negative" })
  .max(Number.MAX_SAFE_INTEGER, { error: `a version is at most ${Number.MAX_SAFE_INTEGER} (JSON numbers beyond it lose digits)` })
  .meta({ description: "The appointment's version: greater with every change the caller makes to it. A request older than the last applied is `superseded`." });

const schedule = requestSchemas["appointment.schedule"];

export const bodySchemas = {
  message: requestSchemas["message.send"].meta({ id: "MessageRequest", description: "A one-off email or SMS, part of no plan or campaign." }),
  appointment: schedule.extend({ version }).meta({ id: "AppointmentRequest", description: "Create an appointment: its reminders follow the plan." }),
  reschedule: schedule.omit({ appointmentId: true }).extend({ version }).meta({
    id: "RescheduleRequest",
    description: "Move an appointment (a greater version, another start): its reminders follow the newest start.",
  }),
  versionOnly: z.strictObject({ version }).meta({ id: "VersionedChange" }),
  enroll: requestSchemas["lead.enroll"].meta({ id: "EnrollRequest", description: "Enrol a lead in a drip campaign." }),
  stop: requestSchemas["lead.stop"].omit({ contactId: true }).meta({ id: "StopRequest", description: "Stop a lead's drips: in one campaign, or all of them." }),
} as const;

export const idempotencyKeyHeader = idempotencyKeySchema.meta({
  description:
    "Required on every POST, unique per request within the token's source. The same key and body return the first response again (byte for byte); the same key with another body is a 422; a key whose first request is still in flight is a 409. Keys never expire.",
});

export const appointmentIdParam = externalIdSchema.meta({ description: "The caller's own id for the appointment." });
export const contactIdParam = externalIdSchema.meta({ description: "The caller's own id for the contact." });
export const numericIdParam = z.string().regex(/^[1-9][0-9]{0,9}$/, { error: "an id is a whole number from 1" });

/** A POST route: where it is, what body it takes, and the request it makes of it (kind, payload, version). */
export interface PostRoute {
  url: string;
  /** The URL as OpenAPI writes it ({appointmentId}). */
  openApiPath: string;
  operationId: string;
  summary: string;
  body: z.ZodType;
  pathParam?: { name: string; schema: z.ZodType };
  kind: RequestKind;
  toRequest(params: Record<string, string>, body: any): { payload: unknown; version: number | null };
}

export const POST_ROUTES: readonly PostRoute[] = [
  {
    url: "/v1/messages",
    openApiPath: "/v1/messages",
    operationId: "sendMessage",
    summary: "Send a one-off email or SMS",
    body: bodySchemas.message,
    kind: "message.send",
    toRequest: (_params, body: PayloadOf<"message.send">) => ({ payload: body, version: null }),
  },
  {
    url: "/v1/appointments",
    openApiPath: "/v1/appointments",
    operationId: "createAppointment",
    summary: "Create an appointment (its reminders follow)",
    body: bodySchemas.appointment,
    kind: "appointment.schedule",
    toRequest: (_params, { version: v, ...payload }) => ({ payload, version: v }),
  },
  {
    url: "/v1/appointments/:appointmentId/reschedule",
    openApiPath: "/v1/appointments/{appointmentId}/reschedule",
    operationId: "rescheduleAppointment",
    summary: "Move an appointment to another start",
    body: bodySchemas.reschedule,
    pathParam: { name: "appointmentId", schema: appointmentIdParam },
    kind: "appointment.schedule",
    toRequest: (params, { version: v, ...rest }) => ({ payload: { appointmentId: params.appointmentId, ...rest }, version: v }),
  },
  {
    url: "/v1/appointments/:appointmentId/cancel",
    openApiPath: "/v1/appointments/{appointmentId}/cancel",
    operationId: "cancelAppointment",
    summary: "Cancel an appointment: no reminder for it is sent after this",
    body: bodySchemas.versionOnly,
    pathParam: { name: "appointmentId", schema: appointmentIdParam },
    kind: "appointment.cancel",
    toRequest: (params, { version: v }) => ({ payload: { appointmentId: params.appointmentId }, version: v }),
  },
  {
    url: "/v1/appointments/:appointmentId/confirm",
    openApiPath: "/v1/appointments/{appointmentId}/confirm",
    operationId: "confirmAppointment",
    summary: "Confirm an appointment: its remaining reminders are not needed",
    body: bodySchemas.versionOnly,
    pathParam: { name: "appointmentId", schema: appointmentIdParam },
    kind: "appointment.confirm",
    toRequest: (params, { version: v }) => ({ payload: { appointmentId: params.appointmentId }, version: v }),
  },
  {
    url: "/v1/leads/enroll",
    openApiPath: "/v1/leads/enroll",
    operationId: "enrollLead",
    summary: "Enrol a lead in a drip campaign",
    body: bodySchemas.enroll,
    kind: "lead.enroll",
    toRequest: (_params, body: PayloadOf<"lead.enroll">) => ({ payload: body, version: null }),
  },
  {
    url: "/v1/leads/:contactId/stop",
    openApiPath: "/v1/leads/{contactId}/stop",
    operationId: "stopLead",
    summary: "Stop a lead's drip campaigns",
    body: bodySchemas.stop,
    pathParam: { name: "contactId", schema: contactIdParam },
    kind: "lead.stop",
    toRequest: (params, body) => ({ payload: { contactId: params.contactId, ...body }, version: null }),
  },
];

export const acceptedSchema = z
  .object({
    id: z.number().int().meta({ description: "The request's id in Nudge's record (relay_requests)." }),
    kind: z.string().meta({ description: "The request kind, as @nudge/client names it (message.send, appointment.schedule, ...)." }),
    idempotencyKey: z.string(),
    outcome: z.string().meta({ description: "`applied`, or `superseded` (a newer version of the appointment was applied first)." }),
    messageId: z.number().int().optional().meta({ description: "message.send: the one-off message; GET /v1/messages/{messageId} follows it." }),
  })
  .meta({ id: "AcceptedRequest" });

export const errorSchema = z.object({ error: z.string().meta({ description: "What is wrong, naming the field or header at fault." }) }).meta({ id: "Error" });

export const refusedSchema = z
  .object({ error: z.string(), id: z.number().int(), kind: z.string(), idempotencyKey: z.string(), outcome: z.string() })
  .meta({ id: "RefusedRequest", description: "Recorded, but it can never be applied as written (e.g. a contact with no address for the channel, a campaign not loaded)." });

const timestamp = z.string().meta({ format: "date-time" });

export const deliverySchema = z
  .object({
    id: z.number().int(),
    kind: z.string().meta({ description: "reminder, drip or one-off" }),
    channel: z.enum(["sms", "email", "voice"]),
    recipient: z.string(),
    state: z.string().meta({ description: "pending, sending, sent, failed, skipped, cancelled, unknown or undelivered (see the README's delivery states)." }),
    reason: z.string().nullable(),
    providerStatus: z.string().nullable(),
    attempts: z.number().int(),
    deadline: timestamp,
    createdAt: timestamp,
    sentAt: timestamp.nullable(),
  })
  .meta({ id: "Delivery" });

export const messageStateSchema = z
  .object({
    id: z.number().int(),
    requestId: z.number().int(),
    idempotencyKey: z.string(),
    channel: z.enum(["sms", "email"]),
    state: z.string().meta({ description: "`queued` until a worker takes it, then its delivery's state." }),
    deadline: timestamp,
    createdAt: timestamp,
    delivery: deliverySchema.nullable(),
  })
  .meta({ id: "MessageState" });

export const historySchema = z
  .object({ contactId: z.string(), deliveries: z.array(deliverySchema) })
  .meta({ id: "RecipientHistory", description: "Every delivery to the contact, newest first." });

export const historyQuerySchema = z.strictObject({
  limit: z.coerce.number({ error: "limit is a whole number" }).int({ error: "limit is a whole number" }).min(1, { error: "limit is at least 1" }).max(500, { error: "limit is at most 500" }).default(100),
});

