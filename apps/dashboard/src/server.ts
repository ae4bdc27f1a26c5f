import type { DashboardStore, LedgerFilter, SessionUser } from "@nudge/db";
import type { Logger } from "@nudge/logger";
import { JOBS } from "@nudge/queue";
import type { OperatorAction, OperatorDecisions } from "@nudge/send-guard";
import type { Queue } from "bullmq";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { z } from "zod";
import { mountBoards, OPERATOR_BOARD, VIEWER_BOARD } from "./bull-board";
import { html, page } from "./html";
import { auditPage, decisionsPage } from "./pages/decisions-page";
import { DELIVERY_STATES, KINDS, ledgerPage } from "./pages/ledger-page";
import { loginPage } from "./pages/login-page";
import { timelinePage } from "./pages/timeline-page";
import { DUMMY_HASH, verifyPassword } from "./password";
import { newSessionId, readCookie, SESSION_COOKIE, sessionCookie, sessionIdHash } from "./session-cookie";

export interface DashboardOptions {
  store: DashboardStore;
  decisions: OperatorDecisions;
  /** The catalog's queues, by queue name. */
  queues: readonly Queue[];
  logger: Logger;
  /** The dashboard's own origin: the only Origin a request that writes may carry. */
  origin: string;
  secureCookie: boolean;
  sessionTtlMs: number;
}

declare module "fastify" {
  interface FastifyRequest {
    user: SessionUser | null;
  }
}

/** Paths that answer without a session. Everything else, Bull Board's pages, assets and API included, needs one. */
const PUBLIC = new Set(["/login", "/health"]);

const pathOf = (request: FastifyRequest) => request.url.split("?")[0]!;

/**
 * The dashboard app. Three checks run on every request before any route, in this order:
 *  1. a request that is not a GET (or HEAD) must carry Origin equal to the dashboard's own origin, else 403: the
 *     CSRF check, since Bull Board's UI sends no token (SameSite=Strict cookies are the second line);
 *  2. a session, by the cookie's random id, unexpired by the database's clock: else a redirect to the login page for a
 *     page, 401 for anything else;
 *  3. the role: operator-only routes (the operator's board, decisions) answer 403 to a viewer, and the viewer's
 *     board takes no write from anyone (its queue adapters are read-only as well, a second line).
 * Before Bull Board acts on a job of Nudge's, its payload is checked against the job catalog (see checkJobWrite).
 */
export async function buildDashboard(options: DashboardOptions): Promise<FastifyInstance> {
  const { store, logger } = options;
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, trustProxy: false });
  app.decorateRequest("user", null);
  // Forms are small and flat: URLSearchParams reads them (no dependency needed for it).
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: 16 * 1024 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.addHook("onRequest", async (request, reply) => {
    const path = pathOf(request);
    if (request.method !== "GET" && request.method !== "HEAD" && request.headers.origin !== options.origin) {
      logger.info({ method: request.method, path, origin: request.headers.origin ?? null }, "refused: foreign or missing Origin");
      return reply.code(403).send({ error: `refused: a request that writes must come from ${options.origin} (its Origin header)` });
    }
    if (PUBLIC.has(path)) return;
    const id = readCookie(request.headers.cookie, SESSION_COOKIE);
    request.user = id ? ((await store.sessionUser(sessionIdHash(id))) ?? null) : null;
    if (!request.user) {
      if (request.method === "GET" && !path.includes("/api/") && !path.includes("/static/")) {
        return reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 302);
      }
      return reply.code(401).send({ error: "log in first (no session, or it expired)" });
    }
    const write = request.method !== "GET" && request.method !== "HEAD";
    if (under(path, OPERATOR_BOARD) && request.user.role !== "operator") {
      if (!write && !path.includes("/api/") && !path.includes("/static/")) return reply.redirect(VIEWER_BOARD, 302);
      return reply.code(403).send({ error: "only an operator may use the operator's board" });
    }
    if (under(path, VIEWER_BOARD) && write) return reply.code(403).send({ error: "the read-only board takes no action" });
  });

  app.addHook("preHandler", async (request, reply) => {
    const refused = checkJobWrite(request.method, pathOf(request), request.body);
    if (refused) return reply.code(400).send({ error: refused });
  });

  const requireOperator = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.user?.role !== "operator") return reply.code(403).send({ error: "only an operator may do this" });
  };
  const send = (reply: FastifyReply, title: string, request: FastifyRequest, body: ReturnType<typeof html>) =>
    reply.type("text/html; charset=utf-8").header("cache-control", "no-store").send(page(title, request.user ?? undefined, body));

  app.get("/health", async () => ({ ok: true }));

  app.get("/login", async (request, reply) => {
    const q = request.query as Record<string, string | undefined>;
    return send(reply, "Log in", request, loginPage(undefined, safeNext(q.next)));
  });

  app.post("/login", async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, string | undefined>;
    const name = String(body.name ?? "");
    const user = name ? await store.userByName(name) : undefined;
    // A missing user costs the same scrypt as a wrong password, so names cannot be told apart by timing.
    const ok = await verifyPassword(String(body.password ?? ""), user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok) {
      logger.info({ name }, "login refused");
      return send(reply.code(401), "Log in", request, loginPage("Wrong name or password.", safeNext(body.next)));
    }
    const id = newSessionId();
    await store.createSession(sessionIdHash(id), user.id, options.sessionTtlMs);
    logger.info({ name, role: user.role }, "logged in");
    reply.header("set-cookie", sessionCookie(id, { secure: options.secureCookie, maxAgeSeconds: Math.floor(options.sessionTtlMs / 1000) }));
    return reply.redirect(safeNext(body.next), 303);
  });

  app.post("/logout", async (request, reply) => {
    const id = readCookie(request.headers.cookie, SESSION_COOKIE);
    if (id) await store.deleteSession(sessionIdHash(id));
    reply.header("set-cookie", sessionCookie("", { secure: options.secureCookie, maxAgeSeconds: 0 }));
    return reply.redirect("/login", 303);
  });

  app.get("/", async (_request, reply) => reply.redirect("/ledger", 302));

  app.get("/ledger", async (request, reply) => {
    const raw = request.query as Record<string, string>;
    const parsed = ledgerQuery.safeParse(raw);
    if (!parsed.success) {
      return send(reply.code(400), "Delivery ledger", request, html`<p role="alert">${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}</p>`);
    }
    const { before, ...filter } = parsed.data;
    const { rows, nextBeforeId } = await store.searchLedger(filter, { limit: 50, beforeId: before });
    return send(reply, "Delivery ledger", request, ledgerPage(filter, raw, rows, nextBeforeId));
  });

  app.get("/timeline", async (request, reply) => {
    const address = String((request.query as Record<string, string>).address ?? "").trim();
    if (!address) return send(reply, "Recipient timeline", request, timelinePage("", { addresses: [], messages: [], suppressions: [], events: [] }));
    return send(reply, `Timeline of ${address}`, request, timelinePage(address, await store.timeline(address)));
  });

  app.get("/decisions", async (request, reply) => {
    const notice = (request.query as Record<string, string>).notice;
    return send(reply, "Waiting for a decision", request, decisionsPage(await store.awaitingDecision(200), request.user?.role === "operator", notice));
  });

  const decide = (action: OperatorAction) => async (request: FastifyRequest, reply: FastifyReply) => {
    const id = Number((request.params as { id: string }).id);
    if (!Number.isInteger(id) || id <= 0) return reply.code(400).send({ error: "expected a delivery id" });
    const body = (request.body ?? {}) as Record<string, string | undefined>;
    const providerMessageId = body.providerMessageId?.trim() || undefined;
    const result = await options.decisions.decide(id, action, request.user!.name, providerMessageId);
    logger.info({ deliveryId: id, action, operator: request.user!.name, outcome: result.outcome }, "operator decision");
    return reply.redirect(`/decisions?notice=${encodeURIComponent(`#${id} ${action}: ${result.outcome}`)}`, 303);
  };
  app.post("/decisions/:id/mark-sent", { preHandler: requireOperator }, decide("mark-sent"));
  app.post("/decisions/:id/release", { preHandler: requireOperator }, decide("release"));

  app.get("/audit", async (request, reply) => send(reply, "Audit log", request, auditPage(await store.auditLog(500))));

  app.get("/board", async (request, reply) => reply.redirect(request.user?.role === "operator" ? OPERATOR_BOARD : VIEWER_BOARD, 302));
  await mountBoards(app, options.queues);

  app.setErrorHandler((error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    const message = (error as Error).message;
    if (status >= 500) logger.error({ err: message, path: pathOf(request) }, "request failed");
    return reply.code(status).send({ error: status >= 500 ? "internal error (see the dashboard's log)" : message });
  });
  return app;
}

const under = (path: string, base: string) => path === base || path.startsWith(`${base}/`);

const CONTRACTS: ReadonlyMap<string, (typeof JOBS)[keyof typeof JOBS]> = new Map(Object.values(JOBS).map((contract) => [contract.queue, contract]));
const UPDATE_DATA = new RegExp(`^${OPERATOR_BOARD}/api/queues/([^/]+)/([^/]+)/update-data$`);
const ADD_JOB = new RegExp(`^${OPERATOR_BOARD}/api/queues/([^/]+)/add$`);

/**
 * Bull Board's "update data" and "add job" on a queue of the catalog: the payload must be one the catalog accepts, and
 * an update must keep the job's key, which is its jobId. A job re-pointed at another message (another key) would run
 * that message's claim, which the ledger makes harmless, but its own message would be left with no job while the
 * re-pointed one, completed, keeps its jobId: the scheduler's sweep, which re-enqueues by that id, could not bring it
 * back before its deadline. Returns why a write is refused, or nothing.
 */
export function checkJobWrite(method: string, path: string, body: unknown): string | undefined {
  const update = method === "PATCH" ? UPDATE_DATA.exec(path) : null;
  const add = method === "POST" ? ADD_JOB.exec(path) : null;
  const match = update ?? add;
  if (!match) return undefined;
  const contract = CONTRACTS.get(decodeURIComponent(match[1]!));
  if (!contract) return undefined;
  const data = (body as { jobData?: unknown; data?: unknown } | undefined)?.[update ? "jobData" : "data"];
  const parsed = contract.schema.safeParse(data);
  if (!parsed.success) {
    return `not a ${contract.name} payload: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(data)"}: ${i.message}`).join("; ")}`;
  }
  if (update && parsed.data.key !== decodeURIComponent(match[2]!)) {
    return `a job's key is its jobId (${decodeURIComponent(match[2]!)}) and cannot change: add a job for another message instead`;
  }
  return undefined;
}

/** Only a path on this site: `next` must not send a logged-in person elsewhere. */
function safeNext(next: string | undefined): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/ledger";
}

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v?.trim() ? v.trim() : undefined));
const optionalTime = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (!v?.trim()) return undefined;
    // datetime-local gives no zone: the page says UTC.
    const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v}Z`);
    if (Number.isNaN(d.getTime())) {
      ctx.addIssue({ code: "custom", message: "expected a time such as 2026-11-25T09:00" });
      return z.NEVER;
    }
    return d;
  });

const ledgerQuery = z.object({
  recipient: optionalText,
  key: optionalText,
  reason: optionalText,
  state: z.enum(DELIVERY_STATES).optional().or(z.literal("").transform(() => undefined)),
  kind: z.enum(KINDS).optional().or(z.literal("").transform(() => undefined)),
  from: optionalTime,
  to: optionalTime,
  before: z.coerce.number().int().positive().optional(),
}) satisfies z.ZodType<LedgerFilter & { before?: number }, unknown>;
