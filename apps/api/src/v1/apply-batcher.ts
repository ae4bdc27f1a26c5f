import type { ApplyResult, OutboxRow, RequestApplier } from "@nudge/relay";

/** More than this many requests of one source waiting: applied at once, without waiting for the next tick. */
const MAX_BATCH = 200;

interface Waiting {
  row: OutboxRow;
  resolve(result: ApplyResult): void;
  reject(error: unknown): void;
}

/**
 * Applies the one-off messages of requests that arrive together (the same turn of the event loop, per source) as one
 * batch, through the relay's own set-based path (RequestApplier.applyBatch: a handful of statements for the whole
 * batch, in one transaction) instead of a transaction of about ten statements each. Each request still has its answer
 * only once its row is committed. A batch the database refuses is applied again row by row (apply() finds a row that
 * did commit and does nothing twice), so one bad request cannot fail the others.
 */
export class ApplyBatcher {
  private readonly waiting = new Map<string, Waiting[]>();

  constructor(private readonly applier: RequestApplier) {}

  apply(source: string, row: OutboxRow): Promise<ApplyResult> {
    return new Promise((resolve, reject) => {
      let queue = this.waiting.get(source);
      if (!queue) {
        queue = [];
        this.waiting.set(source, queue);
        setImmediate(() => this.flush(source));
      }
      queue.push({ row, resolve, reject });
      if (queue.length >= MAX_BATCH) this.flush(source);
    });
  }

  private flush(source: string): void {
    const batch = this.waiting.get(source);
    if (!batch) return;
    this.waiting.delete(source);
    void this.run(source, batch);
  }

  private async run(source: string, batch: Waiting[]): Promise<void> {
    if (batch.length > 1) {
      try {
        const results = await this.applier.applyBatch(
          source,
          batch.map((w) => w.row),
        );
        batch.forEach((w, i) => w.resolve(results[i]!));
        return;
      } catch {
        // Row by row below: what committed is found again, not applied twice.
      }
    }
    await Promise.all(
      batch.map(async (w) => {
        try {
          w.resolve(await this.applier.apply(source, w.row));
        } catch (error) {
          w.reject(error);
        }
      }),
    );
  }
}
