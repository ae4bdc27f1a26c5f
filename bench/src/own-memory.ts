import { writeFileSync } from "node:fs";
import { constants, PerformanceObserver } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { kbToMb, readStatusKb } from "./rss-sampler";

/**
 * What one stretch of work (a pass, an addBulk run) cost this process in memory, measured from inside it by the kernel:
 *  - growth_mb: peak RSS during the work (VmHWM, after resetting it to the current RSS by writing 5 to
 *    /proc/self/clear_refs) minus RSS just before. The kernel's peak catches a spike between any two samples, and
 *    measuring costs the work nothing (a sampler inside would share its event loop). Growth rather than the absolute
 *    peak: ~100 MB of tsx, Prisma and ioredis at rest, paid alike by any size, would make any pass look flat.
 *  - heap_retained_mb: the V8 heap still live after the work (after a forced collection) minus before: what the work
 *    kept, as opposed to garbage not collected yet.
 *  - major_gcs: V8 mark-compacts during the work. Until the first one, old-space garbage only accumulates, so a run
 *    too short to reach it (10,000 jobs) shows a smaller peak than a long one that does, with nothing retained.
 * Before the baseline the heap is collected, so that every size starts from the same state; each size runs in a
 * fresh process, so that the larger run does not inherit a heap the smaller one grew.
 */
export interface WorkMemory {
  baseline_mb: number;
  peak_mb: number;
  growth_mb: number;
  heap_retained_mb: number;
  major_gcs: number;
}

/** The heap's collector, exposed at run time (the child is started without --expose-gc), or undefined if refused. */
function collector(): (() => void) | undefined {
  try {
    setFlagsFromString("--expose-gc");
    return runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
}

const collect = collector();
const nextTick = () => new Promise((resolve) => setTimeout(resolve, 0));

function resetPeak(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `work` and measures it as above. `memory` is null off Linux or where clear_refs or the collector is refused;
 * the parent's samples (RssSampler) are the fallback then.
 */
export async function measureOwnMemory<T>(work: () => Promise<T>): Promise<{ value: T; memory: WorkMemory | null }> {
  collect?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let majorGcs = 0;
  const observer = new PerformanceObserver((list) => {
    // A gc entry's `detail` is { kind, flags } (Node >= 16); the typings of PerformanceEntry do not list it.
    for (const entry of list.getEntries()) if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorGcs++;
  });
  observer.observe({ entryTypes: ["gc"] });
  const reset = resetPeak();
  const baselineKb = readStatusKb("self", "VmRSS");
  let value: T;
  let peakKb: number | undefined;
  try {
    value = await work();
    peakKb = readStatusKb("self", "VmHWM");
    await nextTick(); // gc entries are delivered asynchronously
  } finally {
    observer.disconnect();
  }
  if (!collect || !reset || baselineKb === undefined || peakKb === undefined) return { value, memory: null };
  collect();
  return {
    value,
    memory: {
      baseline_mb: kbToMb(baselineKb),
      peak_mb: kbToMb(peakKb),
      growth_mb: kbToMb(peakKb - baselineKb),
      heap_retained_mb: Math.round(((process.memoryUsage().heapUsed - heapBefore) / 2 ** 20) * 10) / 10,
      major_gcs: majorGcs,
    },
  };
}
