import { maskRecipient } from "@nudge/core";
import type { Db, EvidenceLedger } from "@nudge/db";
import { verifySendGridSignature } from "@nudge/providers";
import type { FastifyInstance } from "fastify";
import { addStops, NO_STOPS, stopLeadEnrollments, type EnrollmentStops } from "../enrollment-stops";
import { ClientError, stored, type RouteLimits } from "../http-errors";
import { sendGridEventReports } from "../sendgrid-event-reports";

export interface SendGridRoutesOptions {
  db: Db;
  evidence: EvidenceLedger;
  /** SENDGRID_WEBHOOK_PUBLIC_KEY: the verification key from SendGrid's Mail Settings. */
  publicKey: string;
}

/** SendGrid posts up to a few thousand events per batch, each well under 1 KiB. */
export const SENDGRID_BODY_LIMIT = 1024 * 1024;
const JSON_BODY: RouteLimits = { accepts: "application/json" };

interface SignedJson {
  /** The bytes as received: the signature covers them, not JSON serialized again (SendGrid's end with CRLF). */
  raw: Buffer;
  json: unknown;
}

export async function sendGridRoutes(app: FastifyInstance, options: SendGridRoutesOptions): Promise<void> {
  // The one JSON parser in this scope keeps the raw body next to the parsed one, for the signature.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit: SENDGRID_BODY_LIMIT }, (_request, body: string | Buffer, done) => {
    // parseAs "buffer": always a Buffer here (the type admits the string of parseAs "string").
    const raw = Buffer.isBuffer(body) ? body : Buffer.from(body);
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch {
      done(new ClientError(400, "the body is not valid JSON"), undefined);
      return;
    }
    done(null, { raw, json } satisfies SignedJson);
  });

  app.post("/webhooks/sendgrid/events", { bodyLimit: SENDGRID_BODY_LIMIT, config: JSON_BODY }, async (request, reply) => {
    const body = request.body as SignedJson | undefined;
    const signature = request.headers["x-twilio-email-event-webhook-signature"];
    const timestamp = request.headers["x-twilio-email-event-webhook-timestamp"];
    // No freshness window on the timestamp: SendGrid retries a failed batch for up to 72 hours, and a replay is
    // harmless, since every event is recorded once by its sg_event_id.
    if (
      !body ||
      !verifySendGridSignature(options.publicKey, body.raw, typeof signature === "string" ? signature : undefined, typeof timestamp === "string" ? timestamp : undefined)
    ) {
      request.log.warn({ signed: signature !== undefined }, "refused a SendGrid event batch without a valid signature (if SendGrid's own are refused, check SENDGRID_WEBHOOK_PUBLIC_KEY)");
      throw new ClientError(403, "X-Twilio-Email-Event-Webhook-Signature is missing or does not match this body and timestamp");
    }
    const events = sendGridEventReports(body.json);
    let duplicates = 0;
    let stops: EnrollmentStops | undefined;
    // One at a time, in SendGrid's order. A failure answers 503 and SendGrid posts the whole batch again; the events
    // already recorded are then found by their sg_event_id and change nothing.
    for (const { report, suppress, stop } of events) {
      // The opt-out first and the enrollments' stop second, both before the report: they are idempotent, so a retry
      // after a failure between the writes cannot lose them, and a replay that re-applies them errs toward not
      // messaging someone who bounced or asked not to be mailed.
      if (suppress) {
        const added = await stored(() => options.evidence.suppress(["email"], suppress.email, suppress.reason, "sendgrid"));
        if (added.length > 0) request.log.info({ email: maskRecipient(suppress.email), event: report.status }, "email opt-out recorded");
      }
      if (stop) stops = addStops(stops ?? NO_STOPS, await stopLeadEnrollments(options.db, request.log, { email: stop.email }, stop.reason));
      const outcome = await stored(() => options.evidence.recordReport(report));
      if (outcome.duplicate) duplicates += 1;
      request.log.debug({ deliveryId: outcome.deliveryId, event: report.status, ...outcome }, "sendgrid event recorded");
    }
    // What the batch's unsubscribes and spam reports stopped, when it had any (SendGrid reads only the status; this
    // is for a person replaying a batch by hand).
    return reply.code(200).send({ received: events.length, duplicates, ...stops });
  });
}
