import { LogController, type FastifyReply, type FastifyRequest } from "fastify";

/** The Inbound Parse route's last segment is its secret (SENDGRID_INBOUND_SECRET), kept out of every log line. */
const SECRET_IN_PATH = /^(\/webhooks\/sendgrid\/inbound\/)[^?#]*/;

/** A request's URL as a log line may show it: with the secret of a URL that carries one replaced. */
export function loggableUrl(url: string): string {
  return url.replace(SECRET_IN_PATH, "$1[secret]");
}

/**
 * One line per request, when it is answered, instead of fastify's two (incoming + completed): a refusal (4xx) at
 * info, a failure (5xx) at error, a success at debug, since providers post one callback per status of every message.
 * The path and status only: a request's body holds phone numbers and email addresses, and is never logged.
 */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = { method: request.method, url: loggableUrl(request.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (error || reply.statusCode >= 500) reply.log.error({ ...line, ...(error && { err: error.message }) }, "request failed");
    else if (reply.statusCode >= 400) reply.log.info(line, "request refused");
    else reply.log.debug(line, "request answered");
  }

  // The app's error handler logs what matters about an error; fastify's default line would repeat it.
  override defaultErrorLog(): void {}

  override routeNotFound(): void {}
}
