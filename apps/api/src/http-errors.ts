import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { loggableUrl } from "./request-log";

/**
 * A request the app refuses: the status and a message that names what is wrong with it, sent as `{ error }`. Thrown
 * anywhere in a route (a content-type parser, a hook, a handler); the error handler turns it into the answer.
 */
export class ClientError extends Error {
  override readonly name = "ClientError";

  constructor(
    readonly statusCode: number,
    message: string,
    /** Headers the answer carries, e.g. Retry-After on a 409. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * The database did not take a report (down, restarting, out of connections). Answered 503, never 400: the request
 * was fine, and the providers retry a 5xx (SendGrid for up to 72 hours), which is what recovers the report.
 */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
}

/** Runs a write to the database; its failure becomes a StoreUnavailableError (503) with the cause kept for the log. */
export async function stored<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (cause) {
    throw new StoreUnavailableError(`could not record it: ${(cause as Error).message}`, { cause });
  }
}

/** Route options that the error messages read: what the route accepts, so that a 415 or a 413 can say it. */
export interface RouteLimits {
  accepts: string;
}

function kib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}

/** Fastify's own client errors, reworded to say what the route expects. */
function describeFrameworkError(error: FastifyError, request: FastifyRequest): string | undefined {
  const limits = request.routeOptions.config as Partial<RouteLimits> | undefined;
  switch (error.code) {
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE": {
      const given = request.headers["content-type"];
      return `unsupported Content-Type ${given ? JSON.stringify(given) : "(none, with a body)"}: this route takes ${limits?.accepts ?? "no body"}`;
    }
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return `request body too large: this route takes at most ${kib(request.routeOptions.bodyLimit)}`;
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return "the body's length does not match its Content-Length header";
    case "FST_ERR_BAD_URL":
      return "the URL is not valid (a malformed %-escape?)";
    default:
      return undefined;
  }
}

/**
 * One shape for every refusal: `{ error: "<what is wrong>" }`, a 4xx for anything the client sent, never a stack
 * trace. A 5xx means the app or its database failed, and is logged; its answer says no more than that.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(async (error: FastifyError | ClientError | StoreUnavailableError, request, reply) => {
    if (error instanceof StoreUnavailableError) {
      request.log.error({ err: (error.cause as Error | undefined)?.message ?? error.message, url: loggableUrl(request.url) }, "database did not take a report: answered 503 so that the provider retries");
      // The HTTP API's clients retry with the same Idempotency-Key: a 5xx is never stored as the key's answer.
      const message = request.url.startsWith("/v1/")
        ? "the request could not be recorded right now; retry later with the same Idempotency-Key"
        : "the report could not be recorded right now; retry later";
      return reply.code(503).send({ error: message });
    }
    const status = typeof error.statusCode === "number" ? error.statusCode : 500;
    if (status >= 400 && status < 500) {
      const message = ("code" in error && describeFrameworkError(error as FastifyError, request)) || error.message;
      if (!request.raw.complete) {
        // A body refused unread (too large, wrong type). The connection closes after the answer, and closing a socket
        // with unread bytes resets it, which can destroy the answer before the client reads it: read a bounded
        // amount of the rest first, as servers' "lingering close" does, so that the client sees its 413 or 415.
        await drain(request.raw);
        reply.header("connection", "close");
      }
      if (error instanceof ClientError) reply.headers(error.headers);
      return reply.code(status).send({ error: message });
    }
    request.log.error({ err: error.message, stack: error.stack, url: loggableUrl(request.url) }, "request failed");
    return reply.code(500).send({ error: "internal error" });
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    const allowed = (["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const).filter((method) =>
      app.hasRoute({ method, url: path }),
    );
    if (allowed.length > 0) {
      return reply.code(405).header("allow", allowed.join(", ")).send({ error: `method ${request.method} not allowed on ${path}: use ${allowed.join(" or ")}` });
    }
    return reply.code(404).send({ error: `no such route: ${request.method} ${path.length > 200 ? `${path.slice(0, 200)}...` : path}` });
  });
}

const DRAIN_BYTES = 4 * 1024 * 1024;
const DRAIN_MS = 2_000;

/** Reads and discards what is left of a request body, at most DRAIN_BYTES or DRAIN_MS: a client that sends more is cut off. */
function drain(raw: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    let read = 0;
    const done = () => {
      clearTimeout(timer);
      raw.off("data", onData).off("end", done).off("error", done).off("close", done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      read += chunk.length;
      if (read > DRAIN_BYTES) done();
    };
    const timer = setTimeout(done, DRAIN_MS);
    raw.on("data", onData).on("end", done).on("error", done).on("close", done);
    raw.resume();
  });
}

/**
 * A request Node's HTTP parser could not read (a malformed request line or header, a bad chunk): fastify's default
 * answer with this app's `{ error }` shape. Headers too large stay a 431, a slow request a 408.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const [status, text, message] =
    error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "Request Timeout", "the request took too long to arrive"]
      : error.code === "HPE_HEADER_OVERFLOW"
        ? [431, "Request Header Fields Too Large", "the request's headers are too large"]
        : [400, "Bad Request", `malformed HTTP request (${error.code ?? "unreadable"})`];
  const body = JSON.stringify({ error: message });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/** Errors met by the router before any route (a URL it cannot decode): the same `{ error }` shape. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = typeof error.statusCode === "number" && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
  void reply.code(status).send({ error: describeFrameworkError(error, request) ?? error.message });
}
