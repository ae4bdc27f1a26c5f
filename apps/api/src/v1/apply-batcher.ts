import type { ApplyResult, OutboxRow, RequestApplier } from "@nudge/relay";

/** Batches of one source in flight at once: while they run, the requests that arrive wait and form the next. */
const IN_FLIGHT_PER_SOURCE = 2;
/** The most requests one batch takes (one transaction): below the relay's batches, since every answer waits for its whole batch. */
const MAX_BATCH = 200;

interface Waiting {
  row: OutboxRow;
  resolve(result: ApplyResult): void;
  reject(error: unknown): void;
}

interface SourceState {
  queue: Waiting[];
  inFlight: number;
}

/**
 * Applies one-off messages in batches, as group commit does: while a source's batches are in flight, the requests
 * that arrive wait and go together in the next one, through the relay's own set-based path
 * (RequestApplier.applyBatch: a handful of statements for the whole batch, in one transaction) instead of a
 * transaction of about ten statements each. An idle API adds no delay (a lone request starts at once), and a busy
 * one gets larger batches. Each request has its answer only once its row is committed. A batch the database refuses
 * is applied again row by row (apply() finds a row that did commit and does nothing twice), so one bad request
 * cannot fail the others.
 */
export class ApplyBatcher {
  private readonly sources = new Map<string, SourceState>();

  constructor(private readonly applier: RequestApplier) {}

  apply(source: string, row: OutboxRow): Promise<ApplyResult> {
    return new Promise((resolve, reject) => {
      let state = this.sources.get(source);
      if (!state) {
        state = { queue: [], inFlight: 0 };
        this.sources.set(source, state);
      }
      state.queue.push({ row, resolve, reject });
      this.next(source, state);
    });
  }

  private next(source: string, state: SourceState): void {
    while (state.inFlight < IN_FLIGHT_PER_SOURCE && state.queue.length > 0) {
      const batch = state.queue.splice(0, MAX_BATCH);
      state.inFlight++;
      void this.run(source, batch).finally(() => {
        state.inFlight--;
        if (state.inFlight === 0 && state.queue.length === 0) this.sources.delete(source);
        else this.next(source, state);
      });
    }
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
