import { createDocument } from "zod-openapi";
import { z } from "zod";
import {
  acceptedSchema,
  contactIdParam,
  deliverySchema,
  errorSchema,
  historyQuerySchema,
  historySchema,
  idempotencyKeyHeader,
  messageStateSchema,
  numericIdParam,
  POST_ROUTES,
  refusedSchema,
} from "./api-schemas";

const retryAfter = z.object({ "retry-after": z.string().meta({ description: "Seconds to wait before trying again." }) });

const errors = (codes: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(codes).map(([code, description]) => [
      code,
      { description, ...((code === "409" || code === "429") && { headers: retryAfter }), content: { "application/json": { schema: errorSchema } } },
    ]),
  );

const replayed = z.object({
  "idempotent-replayed": z.literal("true").optional().meta({ description: "Present on a replay: the answer stored for this Idempotency-Key, byte for byte." }),
});

const AUTH_ERRORS = {
  "401": "No bearer token, or one that is unknown or revoked.",
  "403": "The token lacks the scope this route needs.",
  "429": "Over the token's rate limit; Retry-After says when to try again.",
};

/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the zod schemas that validate its requests (zod-openapi
 * reads zod 4's own metadata, so there is no second description to keep in step). Committed as apps/api/openapi.json
 * and served at GET /v1/openapi.json; `npm run openapi -w @nudge/api` writes the file again.
 */
export function openApiDocument() {
  const posts = Object.fromEntries(
    POST_ROUTES.map((route) => [
      route.openApiPath,
      {
        post: {
          operationId: route.operationId,
          summary: route.summary,
          description: `Makes a \`${route.kind}\` request (the kind @nudge/client writes to an outbox). Needs the \`send\` scope.`,
          security: [{ bearer: [] }],
          requestParams: {
            header: z.object({ "idempotency-key": idempotencyKeyHeader }),
            ...(route.pathParam && { path: z.object({ [route.pathParam.name]: route.pathParam.schema }) }),
          },
          requestBody: { required: true, content: { "application/json": { schema: route.body } } },
          responses: {
            "201": { description: "Recorded in Nudge's database (and replayed as such for the same key and body).", headers: replayed, content: { "application/json": { schema: acceptedSchema } } },
            "422": { description: "Recorded but refused (the request can never be applied), or the Idempotency-Key was used for another request.", content: { "application/json": { schema: z.union([refusedSchema, errorSchema]) } } },
            ...errors({
              "400": "A malformed body, a field that fails its schema (named in the message), an unknown field, or a missing or invalid Idempotency-Key.",
              "409": "The first request with this Idempotency-Key is still being processed; retry.",
              "413": "The body is larger than API_BODY_LIMIT_BYTES.",
              "415": "The body is not application/json.",
              "503": "Nudge's database did not take the request; retry with the same Idempotency-Key.",
              ...AUTH_ERRORS,
            }),
          },
        },
      },
    ]),
  );
  const get = (operationId: string, summary: string, schema: z.ZodType, path: Record<string, z.ZodType>, query?: z.ZodObject) => ({
    get: {
      operationId,
      summary,
      description: "Needs the `read` scope; answers only for the token's own source's contacts (any, with `admin`).",
      security: [{ bearer: [] }],
      requestParams: { path: z.object(path), ...(query && { query }) },
      responses: { "200": { description: summary, content: { "application/json": { schema } } }, ...errors({ "400": "An invalid parameter.", "404": "No such thing for this token.", ...AUTH_ERRORS }) },
    },
  });
  return createDocument({
    openapi: "3.1.0",
    info: {
      title: "Nudge HTTP API",
      version: "1",
      description: "Ask Nudge for one-off messages, appointment reminders and drip campaigns from any language, exactly once, with Stripe-style idempotency keys.",
    },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "A token from `nudge tokens create`." } } },
    paths: {
      ...posts,
      "/v1/deliveries/{deliveryId}": get("getDelivery", "A delivery's state", deliverySchema, { deliveryId: numericIdParam }),
      "/v1/messages/{messageId}": get("getMessage", "A one-off message's state (queued, then its delivery's)", messageStateSchema, { messageId: numericIdParam }),
      "/v1/recipients/{contactId}/history": get("getRecipientHistory", "Every delivery to a contact, newest first", historySchema, { contactId: contactIdParam }, historyQuerySchema),
    },
  });
}

/** The document as committed and served: two-space JSON and a final newline. */
export function openApiJson(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}
