import { type CrmGateway, CrmPortalError } from "@nudge/core";
import type { Logger } from "@nudge/logger";
import type { Worker } from "bullmq";

/**
 * Whether the CRM can take Nudge's writes, for the worker's intake. A misconfigured portal (Nudge's properties not
 * set up, a bad token, a missing scope) fails every message the same way: rather than spend reminders on it one by
 * one, the worker takes no jobs until `checkReady` says the portal is fixed, saying what to do meanwhile.
 */
export class CrmReadiness {
  private readonly workers: Worker[] = [];
  private checking: Promise<void> | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly crm: CrmGateway,
    private readonly logger: Logger,
    private readonly recheckMs: number,
  ) {}

  /** Resolves once the portal is ready, re-checking every `recheckMs` and logging each new reason it is not. */
  async waitUntilReady(): Promise<void> {
    let lastReason: string | undefined;
    let transientFailures = 0;
    while (!this.stopped) {
      let reason: string;
      let transient = false;
      try {
        const readiness = await this.crm.checkReady();
        if (readiness.ready) {
          if (lastReason !== undefined) this.logger.info({}, "worker ready: the CRM takes Nudge's writes again");
          return;
        }
        reason = readiness.reason;
        // "could not be checked" (a timeout, a 5xx) says nothing about the portal's setup: look again soon rather
        // than idle a whole re-check interval on a blip.
        transient = /could not be checked/i.test(reason);
      } catch (error) {
        reason = `the CRM could not be checked: ${(error as Error).message}`;
        transient = true;
      }
      if (reason !== lastReason) this.logger.error({ reason }, `worker not ready, taking no jobs: ${reason}`);
      lastReason = reason;
      transientFailures = transient ? transientFailures + 1 : 0;
      const waitMs = transient ? Math.min(this.recheckMs, 500 * 2 ** Math.min(transientFailures - 1, 5)) : this.recheckMs;
      await new Promise<void>((resolve) => {
        this.timer = setTimeout(resolve, waitMs);
      });
    }
  }

  /** A worker whose intake this gate pauses (the process's reminder and drip workers share one gate). */
  attach(worker: Worker): void {
    this.workers.push(worker);
  }

  /**
   * A job met a portal-wide refusal: stop taking jobs (the one that met it is retried, not failed), and resume
   * once the portal is ready again.
   */
  portalRefused(error: CrmPortalError): void {
    if (this.checking || this.workers.length === 0) return;
    this.logger.error({ err: error.message }, "the CRM refuses every write; pausing intake until it is fixed");
    const workers = [...this.workers];
    for (const worker of workers) void worker.pause(true);
    this.checking = this.waitUntilReady().then(() => {
      this.checking = undefined;
      if (!this.stopped) for (const worker of workers) worker.resume();
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}


