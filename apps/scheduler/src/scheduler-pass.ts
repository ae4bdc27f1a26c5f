import { type Clock, type ReminderPlan, reminderKey } from "@nudge/core";
import { type Db, findDueReminders } from "@nudge/db";
import type { Logger } from "@nudge/logger";
import { enqueueReminders } from "@nudge/queue";
import type { Queue } from "bullmq";

export interface PassDeps {
  db: Db;
  queue: Queue;
  plan: ReminderPlan;
  clock: Clock;
  logger: Logger;
  batchSize: number;
  backoffMs?: number;
}

export interface PassResult {
  /** Reminders found due and not yet settled; each was added under its key (a no-op where the job already exists). */
  due: number;
  pages: number;
  ms: number;
}

/**
 * One pass: every reminder that is due now and not settled in the ledger is added to the queue under its
 * deterministic key. Running it again, or from two schedulers at once, or 144 times during an outage, adds nothing
 * new: the jobId dedupes while the job exists, and the ledger excludes what is settled once it is gone. Because
 * Postgres is the source of truth, a pass after Redis lost everything puts back exactly what is still due.
 */
export async function runPass(deps: PassDeps): Promise<PassResult> {
  const started = Date.now();
  const now = deps.clock.now();
  let afterId = 0;
  let due = 0;
  let pages = 0;
  for (;;) {
    const page = await findDueReminders(deps.db, deps.plan, now, { afterId, limit: deps.batchSize });
    if (page.length === 0) break;
    pages++;
    due += page.length;
    await enqueueReminders(
      deps.queue,
      page.map((r) => ({
        key: reminderKey(r),
        appointmentId: r.appointmentId,
        startsAt: r.startsAt.toISOString(),
        step: r.step,
      })),
      deps.backoffMs,
    );
    afterId = page[page.length - 1]!.appointmentId;
    if (page.length < deps.batchSize) break;
  }
  const result = { due, pages, ms: Date.now() - started };
  deps.logger.info(result, "scheduler pass done");
  return result;
}
