import type { Worker } from "bullmq";
import { progress } from "./report";

export interface Drain {
  jobs: number;
  /** From the first completion to the last: start-up and the empty tail are not the worker's throughput. */
  seconds: number;
  jobsPerSecond: number;
  /** Failed attempts (each retried by BullMQ); a clean run has none. */
  attemptFailures: number;
  firstFailure?: string;
  /** Completed jobs by `returnvalue.state` ("done" when the processor returns none). */
  outcomes: Record<string, number>;
}

/**
 * Waits until `worker` has completed `expected` jobs and times them. Gives up when nothing completes for
 * `idleTimeoutMs`, so a stuck pipeline fails the section instead of hanging the run.
 */
export function meterDrain(worker: Worker, expected: number, label: string, idleTimeoutMs = 60_000): Promise<Drain> {
  return new Promise<Drain>((resolve, reject) => {
    let completed = 0;
    let first = 0;
    let last = 0;
    let attemptFailures = 0;
    let firstFailure: string | undefined;
    const outcomes: Record<string, number> = {};
    let lastProgress = Date.now();
    let lastReport = Date.now();

    const watchdog = setInterval(() => {
      const now = Date.now();
      if (now - lastReport >= 10_000) {
        lastReport = now;
        progress(`${label}: ${completed.toLocaleString("en-US")} / ${expected.toLocaleString("en-US")} completed`);
      }
      if (now - lastProgress > idleTimeoutMs) {
        finish();
        reject(
          new Error(
            `${label}: ${completed} of ${expected} jobs completed, then none for ${idleTimeoutMs / 1000} s` +
              (firstFailure ? ` (first failure: ${firstFailure})` : ""),
          ),
        );
      }
    }, 1_000);

    const onCompleted = (job: { returnvalue?: unknown }) => {
      const now = performance.now();
      if (completed === 0) first = now;
      last = now;
      completed++;
      lastProgress = Date.now();
      const state = (job.returnvalue as { state?: unknown } | undefined)?.state;
      const key = typeof state === "string" ? state : "done";
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      if (completed === expected) {
        finish();
        // n completions span n - 1 intervals.
        const seconds = (last - first) / 1000;
        resolve({ jobs: completed, seconds, jobsPerSecond: (completed - 1) / seconds, attemptFailures, firstFailure, outcomes });
      }
    };
    const onFailed = (_job: unknown, error: Error) => {
      attemptFailures++;
      firstFailure ??= error.message;
      lastProgress = Date.now();
    };
    function finish(): void {
      clearInterval(watchdog);
      worker.off("completed", onCompleted);
      worker.off("failed", onFailed);
    }
    worker.on("completed", onCompleted);
    worker.on("failed", onFailed);
  });
}
