import formbody from "@fastify/formbody";
import { maskRecipient, smsKeyword } from "@nudge/core";
import type { Db, EvidenceLedger } from "@nudge/db";
import { verifyTwilioSignature } from "@nudge/providers";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { parseFormFields, quoted } from "../form-fields";
import { stopLeadEnrollments } from "../enrollment-stops";
import { ClientError, stored, type RouteLimits } from "../http-errors";
import { twilioStatusReport } from "../twilio-status-report";
import { EMPTY_TWIML, messageTwiml } from "../twiml";

export interface TwilioRoutesOptions {
  db: Db;
  evidence: EvidenceLedger;
  authToken: string;
  /** WEBHOOK_PUBLIC_URL without a trailing slash: the origin (and prefix) Twilio calls. */
  publicUrl: string;
  helpText: string;
}

/** A status callback or an inbound message is a few hundred bytes; 64 KiB is far beyond any Twilio form. */
export const TWILIO_BODY_LIMIT = 64 * 1024;
const FORM: RouteLimits = { accepts: "application/x-www-form-urlencoded" };

function formOf(request: FastifyRequest): Record<string, string> {
  return (request.body as Record<string, string> | undefined) ?? {};
}

/**
 * Twilio's webhooks: message and call status callbacks, and inbound SMS. Every request must carry a valid
 * X-Twilio-Signature before anything is read from it or written: a forged STOP could silence a patient's reminders
 * and a forged `delivered` could hide a lost one.
 */
export async function twilioRoutes(app: FastifyInstance, options: TwilioRoutesOptions): Promise<void> {
  // This scope parses forms only: a JSON or text body is a 415 here rather than something fastify's default parsers
  // would hand to a handler that expects Twilio's fields.
  app.removeAllContentTypeParsers();
  await app.register(formbody, { parser: parseFormFields, bodyLimit: TWILIO_BODY_LIMIT });

  app.addHook("preHandler", async (request) => {
    // The URL Twilio called, which is what it signed. Behind a proxy or TLS terminator the Host header and scheme this
    // process sees are the proxy's, so the public origin comes from configuration, never from the request.
    const url = options.publicUrl + request.url;
    const signature = request.headers["x-twilio-signature"];
    if (!verifyTwilioSignature(options.authToken, typeof signature === "string" ? signature : undefined, url, formOf(request))) {
      request.log.warn(
        { path: request.url, signed: signature !== undefined },
        "refused a Twilio webhook without a valid signature (if Twilio's own are refused, check TWILIO_AUTH_TOKEN and WEBHOOK_PUBLIC_URL)",
      );
      throw new ClientError(403, "X-Twilio-Signature is missing or does not match this request");
    }
  });

  app.post("/webhooks/twilio/status", { bodyLimit: TWILIO_BODY_LIMIT, config: FORM }, async (request, reply) => {
    const report = twilioStatusReport(request.query as Record<string, unknown>, formOf(request));
    const outcome = await stored(() => options.evidence.recordReport(report));
    request.log.debug({ deliveryId: outcome.deliveryId, sid: report.providerMessageId, status: report.status, ...outcome }, "twilio status recorded");
    // 204 for a replay too: Twilio has nothing to do about it, and an error would only make it try again.
    return reply.code(204).send();
  });

  app.post("/webhooks/twilio/inbound", { bodyLimit: TWILIO_BODY_LIMIT, config: FORM }, async (request, reply) => {
    const form = formOf(request);
    const from = form.From?.trim();
    if (!from) throw new ClientError(400, "From is missing");
    if (from.length > 64 || from.includes("\u0000")) throw new ClientError(400, `From ${quoted(from)} is not a phone number`);
    const body = form.Body ?? "";
    const keyword = smsKeyword(body);
    // A keyword is the whole message, so this is the keyword as sent; it is read only when `keyword` is set.
    const word = body.trim().toUpperCase();
    // Any message from a lead is a reply, and a reply ends the lead's drip campaigns: from then on a person answers
    // them, not the next step. HELP and START count too (neither asks for more of the campaign). The reason never
    // quotes the message: it is the lead's own text, and stays out of the database and the logs.
    let stopReason = keyword === undefined ? "replied by SMS" : `replied by SMS (${word})`;
    switch (keyword) {
      case "opt-out": {
        // Both channels, whichever of our numbers received it: someone who texts STOP wants no more messages and no
        // calls from us. Twilio itself confirms the opt-out to the sender, so no TwiML reply here. The suppression
        // comes before the enrollments' stop because it also covers reminders; both writes are idempotent, so the
        // same STOP again after a failure between them completes the second.
        const added = await stored(() => options.evidence.suppress(["sms", "voice"], from, `replied ${word}`, "twilio-inbound"));
        request.log.info({ from: maskRecipient(from), keyword: word, added }, "opt-out recorded: no more SMS or calls to this number");
        stopReason = `opted out by SMS (${word})`;
        break;
      }
      case "opt-in": {
        const lifted = await stored(() => options.evidence.unsuppress(["sms", "voice"], from));
        request.log.info({ from: maskRecipient(from), lifted }, "opt-in recorded: SMS and calls to this number allowed again");
        break;
      }
    }
    await stopLeadEnrollments(options.db, request.log, { phone: from }, stopReason);
    return reply.type("text/xml").send(keyword === "help" ? messageTwiml(options.helpText) : EMPTY_TWIML);
  });
}
