import { SIM_PROVIDERS, type SimProvider } from "./request-record";

export const FAULT_KINDS = ["500", "429", "hang", "reset", "accept-then-reset"] as const;
/**
 * - `500`, `429`: answered with the provider's error body; nothing recorded.
 * - `hang`: recorded as accepted, never answered (the socket stays open until the client gives up or the sim closes).
 * - `reset`: the socket is destroyed before anything is accepted; nothing recorded.
 * - `accept-then-reset`: recorded as accepted, then the socket is destroyed without an answer.
 * A client cannot tell `reset` from `accept-then-reset`: that is the point.
 */
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  kind: FaultKind;
  /** Omitted: the fault matches a request to any provider. */
  provider?: SimProvider;
  /** How many matching requests it applies to; default 1. */
  times?: number;
  /** For `429`: the Retry-After header, in seconds; default the simulator's `retryAfterSeconds`. */
  retryAfterSeconds?: number;
}

interface PendingFault {
  fault: Fault;
  remaining: number;
}

/** Faults are consumed in the order they were injected, each by the next requests that match its provider. */
export class FaultInjector {
  private pending: PendingFault[] = [];

  inject(fault: Fault): void {
    this.pending.push({ fault: validateFault(fault), remaining: fault.times ?? 1 });
  }

  /** The fault the next request to `provider` must suffer, if any; consumes one of its `times`. */
  take(provider: SimProvider): Fault | undefined {
    const index = this.pending.findIndex((p) => p.fault.provider === undefined || p.fault.provider === provider);
    if (index === -1) return undefined;
    const entry = this.pending[index]!;
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.pending.splice(index, 1);
    return entry.fault;
  }

  clear(): void {
    this.pending = [];
  }

  size(): number {
    return this.pending.length;
  }
}

export function validateFault(value: unknown): Fault {
  if (typeof value !== "object" || value === null) throw new Error("a fault must be an object like {kind, provider?, times?}");
  const { kind, provider, times, retryAfterSeconds } = value as Record<string, unknown>;
  if (typeof kind !== "string" || !(FAULT_KINDS as readonly string[]).includes(kind)) {
    throw new Error(`fault.kind must be one of ${FAULT_KINDS.join(", ")}, got ${JSON.stringify(kind)}`);
  }
  if (provider !== undefined && (typeof provider !== "string" || !(SIM_PROVIDERS as readonly string[]).includes(provider))) {
    throw new Error(`fault.provider must be omitted or one of ${SIM_PROVIDERS.join(", ")}, got ${JSON.stringify(provider)}`);
  }
  if (times !== undefined && (typeof times !== "number" || !Number.isInteger(times) || times < 1)) {
    throw new Error(`fault.times must be a positive integer, got ${JSON.stringify(times)}`);
  }
  if (retryAfterSeconds !== undefined && (typeof retryAfterSeconds !== "number" || retryAfterSeconds < 0)) {
    throw new Error(`fault.retryAfterSeconds must be a number >= 0, got ${JSON.stringify(retryAfterSeconds)}`);
  }
  return value as Fault;
}
