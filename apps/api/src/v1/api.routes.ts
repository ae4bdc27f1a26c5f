import rateLimit from "@fastify/rate-limit";
import { idempotencyKeySchema } from "@nudge/client";
import type { Db } from "@nudge/db";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ClientError, stored, type RouteLimits } from "../http-errors";
import { readDelivery, readHistory, readMessage } from "./api-reads";
import { contactIdParam, historyQuerySchema, numericIdParam, POST_ROUTES, type PostRoute } from "./api-schemas";
import { type ApiPrincipal, type ApiScope, authenticateApiToken } from "./api-tokens";
import { openApiJson } from "./openapi-document";
import type { RequestAcceptor } from "./request-acceptor";
import { absentIsRequired, describeIssues } from "./zod-messages";

declare module "fastify" {
  interface FastifyRequest {
    /** The bearer token's principal, set by the API's onRequest hook. */
    apiPrincipal?: ApiPrincipal;
  }
}

export interface ApiRoutesOptions {
  db: Db;
  acceptor: RequestAcceptor;
  /** API_RATE_LIMIT_PER_MINUTE */
  rateLimitPerMinute: number;
  /** API_BODY_LIMIT_BYTES */
  bodyLimit: number;
}

interface ApiRouteConfig extends RouteLimits {
  /** The scope a token needs; none: a public route (the OpenAPI document). */
  scope?: ApiScope;
}

const JSON_ONLY = "application/json";

function principalOf(request: FastifyRequest): ApiPrincipal {
  // Every route with a scope has passed the onRequest hook, which sets it or refuses the request.
  return request.apiPrincipal!;
}

function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (header === undefined) throw new ClientError(401, "Authorization header missing: send Authorization: Bearer <token> (a token from `nudge tokens create`)");
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (!match) throw new ClientError(401, "Authorization header is not a bearer token: send Authorization: Bearer <token>");
  return match[1]!;
}

function param(route: { name: string; schema: { safeParse(v: unknown, o?: object): any } }, params: Record<string, string>): string {
  const parsed = route.schema.safeParse(params[route.name], { error: absentIsRequired });
  if (!parsed.success) throw new ClientError(400, describeIssues(`path.${route.name}`, parsed.error));
  return parsed.data;
}

function send(reply: FastifyReply, statusCode: number, body: string, replayed: boolean) {
  if (replayed) reply.header("idempotent-replayed", "true");
  return reply.code(statusCode).type("application/json; charset=utf-8").send(body);
}

/**
 * The HTTP API for other services (/v1): the same requests as @nudge/client's outbox, made over HTTP with a bearer
 * token, an Idempotency-Key on every POST, JSON bodies validated by the client's own schemas, and reads of a
 * delivery's state and a recipient's history. Every refusal is a 4xx whose message names the field or header at fault,
 * and writes nothing; the token is checked before the body is read.
 */
export async function apiRoutes(app: FastifyInstance, options: ApiRoutesOptions): Promise<void> {
  const { db, acceptor } = options;
  const document = openApiJson();

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_ONLY, { parseAs: "string", bodyLimit: options.bodyLimit }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (error) {
      const reason = (error as Error).message;
      done(new ClientError(400, `the body is not valid JSON (${reason.length > 80 ? `${reason.slice(0, 80)}...` : reason})`), undefined);
    }
  });

  // Before the body is read: a request without a valid token costs one indexed lookup and no parsing. No cache: a
  // revoked token fails on its next request.
  app.addHook("onRequest", async (request, reply) => {
    const scope = (request.routeOptions.config as Partial<ApiRouteConfig> | undefined)?.scope;
    if (!scope) return;
    // RFC 6750: a 401 says how to authenticate.
    reply.header("www-authenticate", 'Bearer realm="nudge"');
    const token = bearerToken(request);
    const principal = await stored(() => authenticateApiToken(db, token));
    if (!principal) throw new ClientError(401, "the bearer token is not valid (unknown or revoked)");
    if (!principal.scopes.includes(scope) && !principal.scopes.includes("admin")) {
      throw new ClientError(403, `this token lacks the ${scope} scope (it has ${principal.scopes.join(", ")}); create one with --scopes ${scope}`);
    }
    reply.removeHeader("www-authenticate");
    request.apiPrincipal = principal;
  });

  // Per token, counted in this process's memory: a Redis-backed count would make the API's answers depend on Redis,
  // which accepting a request must not. With N API processes behind a balancer, a token gets up to N times the limit.
  await app.register(rateLimit, {
    global: true,
    hook: "preParsing",
    max: options.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => (request.apiPrincipal ? `token-${request.apiPrincipal.tokenId}` : `ip-${request.ip}`),
    errorResponseBuilder: (_request, context) =>
      new ClientError(429, `rate limit: at most ${context.max} requests per minute for this token; retry after ${context.after}`),
  });

  app.get("/v1/openapi.json", { config: { rateLimit: false } }, async (_request, reply) => reply.type("application/json; charset=utf-8").send(document));

  const postConfig: ApiRouteConfig = { accepts: JSON_ONLY, scope: "send" };
  for (const route of POST_ROUTES) {
    app.post(route.url, { bodyLimit: options.bodyLimit, config: postConfig }, async (request, reply) => {
      const header = request.headers["idempotency-key"];
      if (header === undefined) throw new ClientError(400, "Idempotency-Key header missing: every POST needs one, unique per request (e.g. welcome-user-42); a retry sends the same key");
      if (Array.isArray(header)) throw new ClientError(400, "Idempotency-Key header is given more than once");
      const key = idempotencyKeySchema.safeParse(header);
      if (!key.success) throw new ClientError(400, describeIssues("Idempotency-Key", key.error).replace("Idempotency-Key: ", "Idempotency-Key header: "));
      const params = route.pathParam ? { [route.pathParam.name]: param(route.pathParam, request.params as Record<string, string>) } : {};
      const body = parseBody(route, request.body);
      const answer = await acceptor.accept(principalOf(request), route, params, body, key.data);
      return send(reply, answer.statusCode, answer.body, answer.replayed);
    });
  }

  const readConfig: ApiRouteConfig = { accepts: "no body", scope: "read" };
  app.get("/v1/deliveries/:deliveryId", { config: readConfig }, async (request, reply) => {
    const id = Number(param({ name: "deliveryId", schema: numericIdParam }, request.params as Record<string, string>));
    const delivery = await stored(() => readDelivery(db, principalOf(request), id));
    if (!delivery) throw new ClientError(404, `no delivery ${id} for this token's source`);
    return reply.send(delivery);
  });
  app.get("/v1/messages/:messageId", { config: readConfig }, async (request, reply) => {
    const id = Number(param({ name: "messageId", schema: numericIdParam }, request.params as Record<string, string>));
    const message = await stored(() => readMessage(db, principalOf(request), id));
    if (!message) throw new ClientError(404, `no message ${id} for this token's source`);
    return reply.send(message);
  });
  app.get("/v1/recipients/:contactId/history", { config: readConfig }, async (request, reply) => {
    const contactId = param({ name: "contactId", schema: contactIdParam }, request.params as Record<string, string>);
    const query = historyQuerySchema.safeParse(request.query, { error: absentIsRequired });
    if (!query.success) throw new ClientError(400, describeIssues("query", query.error));
    const deliveries = await stored(() => readHistory(db, principalOf(request), contactId, query.data.limit));
    if (!deliveries) throw new ClientError(404, `no contact ${JSON.stringify(contactId)} from this token's source`);
    return reply.send({ contactId, deliveries });
  });
}

function parseBody(route: PostRoute, body: unknown): unknown {
  if (body === undefined) throw new ClientError(400, `body: required: send the request as a JSON object with Content-Type: ${JSON_ONLY}`);
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ClientError(400, `body: a JSON object is required, got ${body === null ? "null" : Array.isArray(body) ? "an array" : typeof body}`);
  }
  const parsed = route.body.safeParse(body, { error: absentIsRequired });
  if (!parsed.success) throw new ClientError(400, describeIssues("body", parsed.error));
  return parsed.data;
}
