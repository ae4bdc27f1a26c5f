import { readFileSync } from "node:fs";

export interface RssSample {
  /** Milliseconds since sampling started. */
  atMs: number;
  rssMb: number;
}

/** First, middle and last sample of a window, and its largest: enough to see whether memory is flat or climbing. */
export interface RssShape {
  samples: number;
  first: number;
  middle: number;
  last: number;
  max: number;
}

/**
 * Samples another process's resident memory from /proc (Linux) every `intervalMs`. The sampler lives in the parent
 * so that measuring costs the measured process nothing. VmHWM (the kernel's own peak) catches a spike between two
 * samples; it must be read while the process is still alive, hence `peakMb()` before stopping the process.
 */
export class RssSampler {
  readonly samples: RssSample[] = [];
  private readonly marks = new Map<string, number>();
  private readonly started = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    // No sample at once: a process spawned a moment ago may not have exec'd node yet.
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Names the current point, so that a window (e.g. one scheduler pass) can be summarised on its own. */
  mark(name: string): void {
    this.sample();
    this.marks.set(name, this.samples.length);
  }

  /** The kernel's peak resident set of the process so far (VmHWM), in MB. */
  peakMb(): number {
    return kbToMb(readStatusKb(this.pid, "VmHWM") ?? 0);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Shape of the samples between two marks (the whole run by default). */
  shape(fromMark?: string, toMark?: string): RssShape {
    const from = fromMark === undefined ? 0 : (this.marks.get(fromMark) ?? 0);
    const to = toMark === undefined ? this.samples.length : (this.marks.get(toMark) ?? this.samples.length);
    const window = this.samples.slice(Math.max(0, from - 1), to).map((s) => s.rssMb);
    if (window.length === 0) return { samples: 0, first: 0, middle: 0, last: 0, max: 0 };
    return {
      samples: window.length,
      first: window[0]!,
      middle: window[Math.floor(window.length / 2)]!,
      last: window[window.length - 1]!,
      max: Math.max(...window),
    };
  }

  private sample(): void {
    const kb = readStatusKb(this.pid, "VmRSS");
    if (kb !== undefined) this.samples.push({ atMs: performance.now() - this.started, rssMb: kbToMb(kb) });
  }
}

export function kbToMb(kb: number): number {
  return Math.round((kb / 1024) * 10) / 10;
}

/** A field of /proc/<pid>/status in kB; undefined once the process is gone (or off Linux). */
export function readStatusKb(pid: number | "self", field: "VmRSS" | "VmHWM"): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
