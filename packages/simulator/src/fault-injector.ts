import { SIM_PROVIDERS, type SimProvider } from "./request-record";

export const FAULT_KINDS = ["500", "429", "hang", "reset", "accept-then-reset", "accept-then-500"] as const;
/**
 * - `500`, `429`: answered with the provider's error body; nothing recorded.
 * - `hang`: recorded as accepted, never answered (the socket stays open until the client gives up or the sim closes).
 * - `reset`: the socket is destroyed before anything is accepted; nothing recorded.
 * - `accept-then-reset`: recorded as accepted, then the socket is destroyed without an answer.
 * - `accept-then-500`: recorded as accepted, then answered with the provider's 5xx error body (a gateway or a
 *   post-commit failure: the provider created the message but the client hears an error). HubSpot applies the write.
 * A client cannot tell `reset` from `accept-then-reset`, nor `500` from `accept-then-500`: that is the point. The
 * accepting kinds schedule status callbacks and SendGrid events as a provider that created the message would.
 */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The answers a `500` or `accept-then-500` fault may give (a 5xx a client must treat as "maybe accepted"). */
export const FAULT_STATUSES = [500, 502, 503, 504] as const;
export type FaultStatus = (typeof FAULT_STATUSES)[number];
const STATUS_KINDS: readonly FaultKind[] = ["500", "accept-then-500"];

export interface Fault {
  kind: FaultKind;
  /** Omitted: the fault matches a request to any provider. */
  provider?: SimProvider;
  /** How many matching requests it applies to; default 1. */
  times?: number;
  /** For `429`: the Retry-After header, in seconds; default the simulator's `retryAfterSeconds`. */
  retryAfterSeconds?: number;
  /** For `500` and `accept-then-500`: the status answered; default 500. */
  status?: FaultStatus;
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
  const { kind, provider, times, retryAfterSeconds, status } = value as Record<string, unknown>;
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
  if (status !== undefined) {
    if (!STATUS_KINDS.includes(kind as FaultKind)) {
      throw new Error(`fault.status applies only to the kinds ${STATUS_KINDS.join(", ")}; remove it from this ${kind} fault`);
    }
    if (!(FAULT_STATUSES as readonly unknown[]).includes(status)) {
      throw new Error(`fault.status must be one of ${FAULT_STATUSES.join(", ")}, got ${JSON.stringify(status)}`);
    }
  }
  return value as Fault;
}
