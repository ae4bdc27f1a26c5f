import type { SimProvider, SimRecord } from "@nudge/simulator";

/** How long after a fault ends its effects may still show: a job retried with backoff, a lock that must expire. */
export const FAULT_AFTERMATH_MS = 30_000;

export interface FaultEntry {
  kind: string;
  /** When the injection began (ms since the epoch). */
  from: number;
  /** When the injection was over (undefined while a fault like a paused worker is still under way). */
  to?: number;
  /** A simulator fault waits in the simulator for the next `times` requests to `provider`. */
  provider?: SimProvider;
  times?: number;
}

/** When a fault could affect the fleet: from its injection until its effect is over plus FAULT_AFTERMATH_MS. */
export interface FaultWindow {
  kind: string;
  from: number;
  to: number;
}

/**
 * Every fault the suite injected, with when it was under way. The checks excuse a reminder skipped past its
 * deadline only when a fault was active during the time it was owed, so this log, not the ledger, is the evidence.
 */
export class FaultLog {
  private readonly entries: FaultEntry[] = [];
  private simulatorFaultsClearedAt: number | undefined;

  begin(kind: string, simulatorFault?: { provider: SimProvider; times: number }): FaultEntry {
    const entry: FaultEntry = { kind, from: Date.now(), ...simulatorFault };
    this.entries.push(entry);
    return entry;
  }

  end(entry: FaultEntry): void {
    entry.to ??= Date.now();
  }

  /** The suite cleared the simulator's pending faults (the calm at the end): none of them can bite after this. */
  simulatorFaultsCleared(): void {
    this.simulatorFaultsClearedAt = Date.now();
  }

  /**
   * The windows during which each fault could affect the fleet. A simulator fault does not bite when injected but
   * when the next requests to its provider arrive, which may be much later (no call is due in the first minute), so
   * its end is estimated from the provider's own record: the simulator takes queued faults in order, one per request,
   * so once the provider has recorded as many requests since the injection as there were fault uses queued up to and
   * including this one, this one is used up. Requests answered with an error leave no record, so this is counted
   * from records only, which can only make the estimated window longer, never shorter: a generous excuse rather
   * than a false accusation.
   */
  windows(records: readonly SimRecord[], runEnd: number): FaultWindow[] {
    const windows: FaultWindow[] = [];
    const queued = new Map<SimProvider, Array<{ entry: FaultEntry; remaining: number }>>();
    const events = [
      ...this.entries.filter((e) => e.provider).map((e) => ({ at: e.from, order: 1, entry: e as FaultEntry, record: undefined })),
      // A record in the same millisecond as an injection counts as earlier: again the longer window.
      ...records.map((r) => ({ at: Date.parse(r.at), order: 0, entry: undefined, record: r as SimRecord })),
    ].sort((a, b) => a.at - b.at || a.order - b.order);
    for (const event of events) {
      if (event.entry) {
        const list = queued.get(event.entry.provider!) ?? [];
        list.push({ entry: event.entry, remaining: event.entry.times ?? 1 });
        queued.set(event.entry.provider!, list);
        continue;
      }
      const head = queued.get(event.record!.provider)?.[0];
      if (head && --head.remaining === 0) {
        queued.get(event.record!.provider)!.shift();
        windows.push({ kind: head.entry.kind, from: head.entry.from, to: event.at + FAULT_AFTERMATH_MS });
      }
    }
    const cleared = this.simulatorFaultsClearedAt ?? runEnd;
    for (const list of queued.values()) {
      for (const { entry } of list) windows.push({ kind: entry.kind, from: entry.from, to: cleared + FAULT_AFTERMATH_MS });
    }
    for (const entry of this.entries) {
      if (!entry.provider) windows.push({ kind: entry.kind, from: entry.from, to: (entry.to ?? runEnd) + FAULT_AFTERMATH_MS });
    }
    return windows;
  }
}
