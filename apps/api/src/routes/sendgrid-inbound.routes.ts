import { createHash, timingSafeEqual } from "node:crypto";
import { finished } from "node:stream/promises";
import multipart from "@fastify/multipart";
import { maskRecipient } from "@nudge/core";
import type { Db } from "@nudge/db";
import type { FastifyInstance } from "fastify";
import { stopLeadEnrollments } from "../enrollment-stops";
import { quoted } from "../form-fields";
import { ClientError, type RouteLimits } from "../http-errors";
import { inboundEmailSender } from "../inbound-email-sender";

export interface SendGridInboundRoutesOptions {
  db: Db;
  /** SENDGRID_INBOUND_SECRET: the last segment of the URL given to SendGrid's Inbound Parse. */
  secret: string;
}

export const SENDGRID_INBOUND_PATH = "/webhooks/sendgrid/inbound";

/**
 * SendGrid takes emails of up to 30 MB, attachments included, and posts each as one multipart form: a dozen text
 * fields (from, to, subject, text, html, headers, envelope, ...) and a file part per attachment, or the whole message
 * in one `email` field when "POST the raw, full MIME message" is on. Only `from` and `envelope` are read; the rest is
 * read past and dropped, never kept. A value over `fieldSize` (a long html part) arrives cut short, which is harmless
 * for the fields that are not read.
 */
const MULTIPART_LIMITS = {
  fieldNameSize: 200,
  fieldSize: 1024 * 1024,
  fields: 100,
  fileSize: 30 * 1024 * 1024,
  files: 100,
  parts: 200,
  headerPairs: 100,
};
const READ_FIELDS: ReadonlySet<string> = new Set(["from", "envelope"]);
const MULTIPART: RouteLimits = { accepts: "multipart/form-data (SendGrid Inbound Parse)" };

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** A form the multipart parser refused, as the answer to give: limits are 413, anything else malformed is 400. */
function multipartError(error: unknown): Error {
  if (error instanceof ClientError) return error;
  const { code, statusCode, message } = error as { code?: string; statusCode?: number; message: string };
  if (statusCode === 413) {
    return new ClientError(413, `the form is larger than an Inbound Parse post (${message}): at most ${MULTIPART_LIMITS.fields} fields and ${MULTIPART_LIMITS.files} files of 30 MiB`);
  }
  if (code === "FST_INVALID_MULTIPART_CONTENT_TYPE") return new ClientError(415, `unsupported Content-Type: this route takes ${MULTIPART.accepts}`);
  return new ClientError(400, `the multipart/form-data body is malformed: ${message}`);
}

/**
 * SendGrid's Inbound Parse: an email a lead sent to the reply address, posted as a form. A reply is a stop condition:
 * the sender's drip enrollments end. Inbound Parse cannot sign its posts (the Event Webhook's key does not cover
 * them), so the URL carries a secret instead, checked before the body is read: a wrong one is a 403 and nothing is
 * written. The secret is in the path, never in a log line (see loggableUrl).
 */
export async function sendGridInboundRoutes(app: FastifyInstance, options: SendGridInboundRoutesOptions): Promise<void> {
  // Hashed to one length on both sides, so that timingSafeEqual compares in constant time whatever was sent, and the
  // comparison says nothing about the secret's length either.
  const expected = sha256(options.secret);
  app.removeAllContentTypeParsers();
  await app.register(multipart, { limits: MULTIPART_LIMITS });

  app.addHook("onRequest", async (request) => {
    const given = (request.params as { secret?: string } | undefined)?.secret ?? "";
    if (!timingSafeEqual(sha256(given), expected)) {
      request.log.warn(
        {},
        "refused an Inbound Parse post with a wrong secret in its URL (if SendGrid's own are refused, check the URL in SendGrid's Inbound Parse settings against SENDGRID_INBOUND_SECRET)",
      );
      throw new ClientError(403, "the secret in the URL does not match");
    }
  });

  app.post(`${SENDGRID_INBOUND_PATH}/:secret`, { config: MULTIPART }, async (request, reply) => {
    const fields: Record<string, string> = Object.create(null);
    try {
      for await (const part of request.parts()) {
        if (part.type === "file") {
          // An attachment: read to its end (the next part comes only after it) and dropped.
          part.file.resume();
          await finished(part.file);
          continue;
        }
        if (!READ_FIELDS.has(part.fieldname)) continue;
        if (Object.hasOwn(fields, part.fieldname)) throw new ClientError(400, `form field ${quoted(part.fieldname)} is given more than once`);
        if (part.valueTruncated) throw new ClientError(400, `form field ${quoted(part.fieldname)} is longer than ${MULTIPART_LIMITS.fieldSize} bytes`);
        // A part sent as application/json arrives parsed; as SendGrid posts them, every field is text.
        fields[part.fieldname] = typeof part.value === "string" ? part.value : JSON.stringify(part.value);
      }
    } catch (error) {
      throw multipartError(error);
    }
    const sender = inboundEmailSender(fields);
    const stops = await stopLeadEnrollments(options.db, request.log, { email: sender }, "replied by email");
    // SendGrid reads only the status (anything but a 2xx is posted again, for up to three days); the counts are for
    // a person posting by hand.
    return reply.code(200).send({ sender: maskRecipient(sender), ...stops });
  });
}
