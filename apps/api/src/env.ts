import { createPublicKey } from "node:crypto";
import { databaseEnv, logEnv, parseEnv, positiveInt, providerEnv, redisEnv, url } from "@nudge/config";
import { z } from "zod";

export const DEFAULT_SMS_HELP_TEXT = "Appointment reminders. Reply STOP to stop them, START to get them again.";

/** SendGrid shows its verification key as base64 DER (SubjectPublicKeyInfo); a PEM copy of it is accepted too. */
function isSendGridKey(text: string): boolean {
  try {
    const key = text.includes("-----BEGIN")
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text.replace(/\s+/g, ""), "base64"), format: "der", type: "spki" });
    return key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";
  } catch {
    return false;
  }
}

const schema = z
  .object({
    ...databaseEnv,
    ...logEnv,
    /**
     * The HTTP API enqueues the one-off messages it accepts here. Redis is not needed to accept a request (Postgres
     * is the record): while it is down, jobs wait, and the scheduler's pass enqueues whatever is left.
     */
    ...redisEnv,
    /** Requests per minute per API token (per process: counted in memory, so a Redis outage cannot stop the API). */
    API_RATE_LIMIT_PER_MINUTE: positiveInt(600),
    /** The largest JSON body the HTTP API takes (an email body may be 100,000 characters). */
    API_BODY_LIMIT_BYTES: positiveInt(256 * 1024),
    /** A one-off message without a deadline of its own is useless this long after it was accepted. */
    ONE_OFF_DEFAULT_DEADLINE_HOURS: positiveInt(24),
    API_PORT: positiveInt(3100).refine((port) => port <= 65535, { message: "expected a TCP port (1-65535)" }),
    /**
     * 0.0.0.0: the app exists to be reached by Twilio and SendGrid, through a proxy or a load balancer that is rarely
     * on the same host or in the same container; bound to 127.0.0.1 it would refuse them and their callbacks would be
     * lost without a line in our logs. Every route that writes checks the provider's signature, so listening widely
     * exposes nothing that an unsigned caller can change.
     */
    API_HOST: z.string().min(1).default("0.0.0.0"),
    /**
     * The origin (and path prefix, if a proxy adds one) that Twilio calls. Twilio signs the URL it called; behind a
     * proxy or a TLS terminator, the Host header and scheme this process sees are not that URL.
     */
    WEBHOOK_PUBLIC_URL: url(["https:", "http:"], "https://nudge.example.com")
      .refine((value) => !value.includes("?") && !value.includes("#"), { message: "expected an origin and optional path, no query or fragment" })
      .transform((value) => value.replace(/\/+$/, ""))
      .optional(),
    /** Twilio's routes are on when it is set: it verifies X-Twilio-Signature. */
    TWILIO_AUTH_TOKEN: providerEnv.TWILIO_AUTH_TOKEN.optional(),
    /** SendGrid's route is on when it is set (Mail Settings > Event Webhook > Signature verification). */
    SENDGRID_WEBHOOK_PUBLIC_KEY: z
      .string()
      .refine(isSendGridKey, { message: "expected SendGrid's verification key: base64 of an ECDSA P-256 public key (as Mail Settings shows it)" })
      .optional(),
    /**
     * SendGrid's Inbound Parse route (an email reply stops the sender's drip campaigns) is on when it is set. It is the
     * URL's last segment, as given to SendGrid: <public origin>/webhooks/sendgrid/inbound/<secret>. Inbound Parse cannot
     * sign its posts, so the secret is what keeps others from stopping a lead's campaigns: treat it as a credential
     * (this app keeps it out of its logs; a proxy in front of it may log URLs). URL-safe characters only, since it is
     * part of a path; at most 100, the longest path parameter fastify matches.
     */
    SENDGRID_INBOUND_SECRET: z
      .string()
      .regex(/^[A-Za-z0-9._~-]{24,100}$/, {
        message: "expected 24 to 100 characters from A-Z a-z 0-9 . _ ~ - (it is part of the URL), e.g. the output of `openssl rand -hex 24`",
      })
      .optional(),
    /** The answer to an inbound HELP or INFO (one SMS segment is 160 GSM characters; Twilio splits longer ones). */
    SMS_HELP_TEXT: z.string().max(1600, { message: "expected at most 1600 characters (Twilio's limit for one message)" }).default(DEFAULT_SMS_HELP_TEXT),
    SHUTDOWN_GRACE_MS: positiveInt(10_000),
  })
  .superRefine((env, ctx) => {
    // Reported as missing (not "invalid"): the fix is to set it.
    if (env.TWILIO_AUTH_TOKEN !== undefined && env.WEBHOOK_PUBLIC_URL === undefined) {
      ctx.addIssue({
        code: "invalid_type",
        expected: "string",
        input: undefined,
        path: ["WEBHOOK_PUBLIC_URL"],
        message: "required when TWILIO_AUTH_TOKEN is set: Twilio signs the URL it called, so give the public origin it calls, e.g. https://nudge.example.com",
      });
    }
  });

export type ApiEnv = z.infer<typeof schema>;

export function loadApiEnv(env: NodeJS.ProcessEnv = process.env): ApiEnv {
  return parseEnv(schema, env);
}
