/**
 * A sleep that ends early when woken. A wake that arrives while nobody sleeps is kept for the next sleep, so that a
 * notification received during a batch is never lost: the loop goes round again at once instead of waiting a poll.
 */
export class WakeSignal {
  private woken = false;
  private release: (() => void) | undefined;

  wake(): void {
    this.woken = true;
    this.release?.();
  }

  /** Resolves after `ms`, or at once when woken (since the last sleep ended or during this one). */
  sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.release = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.release = done;
    });
  }
}
