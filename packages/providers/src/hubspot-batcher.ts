export interface BatcherOptions<I, R> {
  /** HubSpot takes at most 100 inputs per batch call (search: 5 filter groups). */
  maxSize: number;
  /** How long the first input of a batch waits for others to join. */
  windowMs: number;
  /** Inputs with the same key never share a batch (HubSpot refuses a batch naming one id twice); later ones wait for the next. */
  key: (input: I) => string;
  /**
   * Awaited before a batch is closed: the shared limiter. Inputs arriving while it waits join the batch, so the
   * slower HubSpot lets Nudge send, the fuller each request is.
   */
  beforeClose?: () => Promise<void>;
  /** One request for the batch (its limiter turn already taken): one result or Error per input, in order. */
  run: (inputs: I[]) => Promise<Array<R | Error>>;
}

interface Pending<I, R> {
  input: I;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects the calls of concurrent jobs into batch requests: a batch closes `windowMs` after its first input, or at
 * once when `maxSize` inputs wait. Each caller gets its own input's result or error.
 */
export class Batcher<I, R> {
  private queue: Array<Pending<I, R>> = [];
  private timer: NodeJS.Timeout | undefined;
  /** A batch is waiting in `beforeClose`: new inputs join it rather than start another. */
  private closing = false;

  constructor(private readonly options: BatcherOptions<I, R>) {}

  add(input: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.closing || this.queue.length === 0) return;
    if (this.queue.length >= this.options.maxSize) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.close();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        void this.close();
      }, this.options.windowMs);
    }
  }

  private async close(): Promise<void> {
    this.closing = true;
    let waitFailed: { error: unknown } | undefined;
    try {
      await this.options.beforeClose?.();
    } catch (error) {
      waitFailed = { error };
    }
    this.closing = false;
    const batch = this.take();
    this.schedule();
    if (waitFailed) {
      for (const entry of batch) entry.reject(waitFailed.error);
      return;
    }
    let results: Array<R | Error>;
    try {
      results = await this.options.run(batch.map((entry) => entry.input));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    batch.forEach((entry, i) => {
      const result = results[i];
      if (result instanceof Error) entry.reject(result);
      else if (result === undefined) entry.reject(new Error("internal: a batch run returned fewer results than inputs"));
      else entry.resolve(result);
    });
  }

  /** The oldest inputs, up to maxSize, one per key; the rest stay queued in their order. */
  private take(): Array<Pending<I, R>> {
    const keys = new Set<string>();
    const taken: Array<Pending<I, R>> = [];
    const rest: Array<Pending<I, R>> = [];
    for (const entry of this.queue) {
      const key = this.options.key(entry.input);
      if (taken.length < this.options.maxSize && !keys.has(key)) {
        keys.add(key);
        taken.push(entry);
      } else {
        rest.push(entry);
      }
    }
    this.queue = rest;
    return taken;
  }
}
