import type { Fault } from "./fault-injector";
import type { CrmContact } from "./hubspot-routes";
import type { RecordFilter, SimRecord } from "./request-record";
import type { SimLogger } from "./status-callbacks";

export interface SimulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Checked against Basic auth on Twilio calls and used to sign status callbacks. Default "simulator-auth-token". */
  twilioAuthToken?: string;
  /** Delay before every answer; default 0. */
  latencyMs?: number;
  /** Delay before each status callback; default 50. */
  callbackDelayMs?: number;
  /** Retry-After of `429` faults that do not set their own; default 1. */
  retryAfterSeconds?: number;
  /** Where the simulator reports what it swallows (undeliverable callbacks, handler bugs). Default: nowhere. */
  log?: SimLogger;
}

/** A running provider simulator. Every method is synchronous unless it returns a promise. */
export interface Simulator {
  /** e.g. http://127.0.0.1:4010 (no trailing slash): the base URL for all three providers. */
  readonly url: string;
  readonly port: number;
  /** Every request the simulated providers accepted, oldest first. */
  records(filter?: RecordFilter): SimRecord[];
  clearRecords(): void;
  injectFault(fault: Fault | Fault[]): void;
  clearFaults(): void;
  /** Twilio answers 400 / 21610 for this number from now on. */
  unsubscribe(phone: string): void;
  resubscribe(phone: string): void;
  /** HubSpot answers 404 for this contact id from now on (instead of creating it on PATCH). */
  markContactMissing(id: string): void;
  /** The latest properties HubSpot holds for a contact. */
  crmContact(id: string): CrmContact | undefined;
  setLatency(ms: number): void;
  /** Stops listening for `ms` (clients get ECONNREFUSED), then listens again on the same port. Resolves once refusing. */
  refuseConnections(ms: number): Promise<void>;
  /** Back to a fresh state: records, faults, unsubscribes, contacts, Twilio resources, pending callbacks, latency. */
  reset(): void;
  /** Stops listening, destroys every open socket (hung ones included) and cancels pending callbacks. Idempotent. */
  close(): Promise<void>;
}
