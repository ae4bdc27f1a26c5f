import { EvidenceLedger, type Db } from "@nudge/db";
import type { Logger } from "@nudge/logger";
import Fastify, { type FastifyBaseLogger } from "fastify";
import { clientErrorHandler, frameworkErrors, installErrorHandling } from "./http-errors";
import { RequestLog } from "./request-log";
import { healthRoutes } from "./routes/health.routes";
import { sendGridInboundRoutes } from "./routes/sendgrid-inbound.routes";
import { sendGridRoutes } from "./routes/sendgrid.routes";
import { twilioRoutes } from "./routes/twilio.routes";
import { DEFAULT_SMS_HELP_TEXT } from "./env";
import { apiRoutes } from "./v1/api.routes";
import type { RequestAcceptor } from "./v1/request-acceptor";

export interface WebhookDeps {
  db: Db;
  logger: Logger;
  /** Twilio's routes; without it they answer 404. `publicUrl`: WEBHOOK_PUBLIC_URL, the origin Twilio calls. */
  twilio?: { authToken: string; publicUrl: string };
  /** SendGrid's route; without it, it answers 404. `publicKey`: SENDGRID_WEBHOOK_PUBLIC_KEY. */
  sendGrid?: { publicKey: string };
  /** SendGrid's Inbound Parse route (email replies); without it, it answers 404. `secret`: SENDGRID_INBOUND_SECRET. */
  sendGridInbound?: { secret: string };
  /** The answer to an inbound HELP (SMS_HELP_TEXT). */
  smsHelpText?: string;
  /** The HTTP API for other services (/v1); without it, its routes answer 404. */
  api?: { acceptor: RequestAcceptor; rateLimitPerMinute: number; bodyLimit: number };
}

/**
 * The webhooks app: each provider's routes are a plugin of their own, with their own body parser and limits, so that
 * the public HTTP API can join as further plugins. Returns the app without listening (tests use `inject`).
 */
export function buildWebhooks(deps: WebhookDeps) {
  // Typed as fastify's logger interface, which pino's satisfies: route plugins are written against plain FastifyInstance.
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance,
    logController: new RequestLog(),
    frameworkErrors,
    clientErrorHandler,
    // Every route declares its own limit; this one is for the rest (and the 404s): nothing else takes a body.
    bodyLimit: 16 * 1024,
    // A client that sends its request slowly gets 30 s, not Node's default 5 minutes, to hold a connection open.
    requestTimeout: 30_000,
    // The HTTP API's path parameters are the caller's ids, up to 200 characters, more once %-escaped; the schemas
    // check their length and answer a 400 that names them, where fastify's default of 100 would answer a bare 404.
    routerOptions: { maxParamLength: 1000 },
  });
  installErrorHandling(app);
  // No route at the root takes a body: without parsers, a body sent to one is a 415.
  app.removeAllContentTypeParsers();
  const evidence = new EvidenceLedger(deps.db);

  void app.register(healthRoutes, { db: deps.db });
  if (deps.twilio) {
    void app.register(twilioRoutes, { db: deps.db, evidence, ...deps.twilio, helpText: deps.smsHelpText ?? DEFAULT_SMS_HELP_TEXT });
  } else {
    deps.logger.warn({}, "Twilio webhooks are off (404): set TWILIO_AUTH_TOKEN and WEBHOOK_PUBLIC_URL to receive status callbacks and STOP replies");
  }
  if (deps.sendGrid) {
    void app.register(sendGridRoutes, { db: deps.db, evidence, publicKey: deps.sendGrid.publicKey });
  } else {
    deps.logger.warn({}, "SendGrid events are off (404): set SENDGRID_WEBHOOK_PUBLIC_KEY to receive them");
  }
  if (deps.sendGridInbound) {
    void app.register(sendGridInboundRoutes, { db: deps.db, secret: deps.sendGridInbound.secret });
  } else {
    deps.logger.warn({}, "SendGrid Inbound Parse is off (404): set SENDGRID_INBOUND_SECRET so that an email reply stops the lead's drip campaigns");
  }
  if (deps.api) void app.register(apiRoutes, { db: deps.db, ...deps.api });
  return app;
}

export type WebhooksApp = ReturnType<typeof buildWebhooks>;
