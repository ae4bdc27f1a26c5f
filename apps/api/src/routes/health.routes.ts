import { withDeadline } from "@nudge/core";
import type { Db } from "@nudge/db";
import type { FastifyInstance } from "fastify";

const HEALTH_TIMEOUT_MS = 2_000;

/** For a load balancer or an orchestrator: 200 while the database answers, 503 while it does not. */
export async function healthRoutes(app: FastifyInstance, options: { db: Db }): Promise<void> {
  app.get("/health", async (request, reply) => {
    try {
      await withDeadline(options.db.$queryRaw`SELECT 1`, HEALTH_TIMEOUT_MS, () => new Error(`no answer within ${HEALTH_TIMEOUT_MS / 1000} s`));
      return reply.send({ status: "ok" });
    } catch (error) {
      request.log.warn({ err: (error as Error).message }, "health check: the database is not answering");
      return reply.code(503).send({ error: "the database is not answering" });
    }
  });
}
