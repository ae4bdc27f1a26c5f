import { startChild } from "./child-app";
import { progress } from "./report";
import { RssSampler } from "./rss-sampler";

/** One `pass-end` line of a pass child (scheduler-child.ts, drip-pass-child.ts), as it printed it. */
export interface PassEnd {
  pass: number;
  seconds: number;
  result: unknown;
  [more: string]: unknown;
}

export interface ChildPasses {
  passes: PassEnd[];
  /** Marks `pass-N-start` and `pass-N-end` name each pass's window. */
  sampler: RssSampler;
  /** The child's peak resident set (VmHWM), read before it exited: over its whole life, unless it reset the peak. */
  peakMb: number;
}

/**
 * Runs a pass child to its `done` line while the parent samples its resident memory from /proc, marking each pass's
 * start and end as the child reports them. Fails with the child's last lines when it exits before `done`.
 */
export async function runChildPasses(entry: string, env: Record<string, string>, label: string, sampleEveryMs = 100): Promise<ChildPasses> {
  const child = startChild(entry, env);
  const sampler = new RssSampler(child.pid, sampleEveryMs);
  const passes: PassEnd[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      child.onLine((line) => {
        let event: { event?: string; pass?: number };
        try {
          event = JSON.parse(line) as typeof event;
        } catch {
          return; // not one of ours (a warning on stderr): kept in child.lines for the error message
        }
        if (event.event === "pass-start") {
          sampler.mark(`pass-${event.pass}-start`);
          progress(`${label}: pass ${event.pass} running`);
        }
        if (event.event === "pass-end") {
          sampler.mark(`pass-${event.pass}-end`);
          passes.push(event as PassEnd);
        }
        if (event.event === "done") resolve();
      });
      void child.exited.then((code) =>
        reject(new Error(`${entry} exited (${code}) before finishing its passes:\n${child.lines.slice(-20).join("\n")}`)),
      );
    });
    return { passes, sampler, peakMb: sampler.peakMb() };
  } finally {
    sampler.stop();
    child.child.stdin!.end();
    await child.stop(10_000);
  }
}
