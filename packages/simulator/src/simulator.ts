import type { Fault } from "./fault-injector";
import type { CrmContact } from "./hubspot-contacts";
import type { HubSpotUsage } from "./hubspot-rate-limits";
import type { HubSpotSettings } from "./hubspot-settings";
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
  /**
   * The simulated HubSpot portal (see HubSpotSettings): unknown properties are rejected unless
   * `rejectUnknownProperties: false`; no rate limit, no search lag, every scope granted unless set.
   */
  hubspot?: Partial<HubSpotSettings>;
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
  /** Changes the HubSpot portal's settings from now on (the fields given; a bad one throws) and returns them all. */
  configureHubSpot(settings?: Partial<HubSpotSettings>): HubSpotSettings;
  /** Requests the HubSpot portal answered and every 429 its rate limits gave (when, which policy). */
  hubSpotUsage(): HubSpotUsage;
  /** Puts a contact in the HubSpot portal as if someone had entered it (no request, no record); returns it with its id. */
  seedCrmContact(properties: Record<string, string>, id?: string): CrmContact;
  /** Deletes a HubSpot contact: its id answers 404 from now on; false if there was none. */
  deleteCrmContact(id: string): boolean;
  /** HubSpot's merge: `mergedId` answers 404 from now on; its email still finds the primary. Returns the primary. */
  mergeCrmContacts(primaryId: string, mergedId: string): CrmContact;
  /** Same as deleteCrmContact (kept for older tests): HubSpot answers 404 for this id from now on. */
  markContactMissing(id: string): void;
  /** The latest properties HubSpot holds for a contact. */
  crmContact(id: string): CrmContact | undefined;
  /** Every contact in the HubSpot portal (deleted and merged-away ones aside). */
  crmContacts(): CrmContact[];
  setLatency(ms: number): void;
  /** Stops listening for `ms` (clients get ECONNREFUSED), then listens again on the same port. Resolves once refusing. */
  refuseConnections(ms: number): Promise<void>;
  /**
   * Back to a fresh state: records, faults, unsubscribes, Twilio resources, pending callbacks, latency, and a fresh
   * HubSpot portal (no contacts, built-in properties only, the settings it started with, usage counters at zero).
   */
  reset(): void;
  /** Stops listening, destroys every open socket (hung ones included) and cancels pending callbacks. Idempotent. */
  close(): Promise<void>;
}
