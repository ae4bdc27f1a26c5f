import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { FastifyAdapter } from "@bull-board/fastify";
import type { Queue } from "bullmq";
import type { FastifyInstance } from "fastify";

/** A viewer's board: every queue adapter read-only (read-only is per adapter, not per user, hence a board of its own). */
export const VIEWER_BOARD = "/board/view";
/** An operator's board: Bull Board's actions allowed (retry, promote, clean, empty, obliterate, update data, add job). */
export const OPERATOR_BOARD = "/board/ops";

/**
 * Bull Board (the UI and its HTTP API) for every queue of the catalog, twice: at VIEWER_BOARD with read-only
 * adapters, at OPERATOR_BOARD with actions. The server's hooks decide who reaches which (see server.ts); a viewer's
 * write is refused there, before Bull Board, whatever its UI shows.
 */
export async function mountBoards(app: FastifyInstance, queues: readonly Queue[]): Promise<void> {
  for (const [basePath, readOnlyMode] of [
    [VIEWER_BOARD, true],
    [OPERATOR_BOARD, false],
  ] as const) {
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(basePath);
    createBullBoard({
      queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode })),
      serverAdapter,
      options: { uiConfig: { boardTitle: readOnlyMode ? "Nudge (read-only)" : "Nudge (operator)" } },
    });
    await app.register(serverAdapter.registerPlugin(), { prefix: basePath });
  }
}
