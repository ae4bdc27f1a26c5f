import type { Fault } from "./fault-injector";
import type { CrmContact } from "./hubspot-contacts";
import type { HubSpotUsage } from "./hubspot-rate-limits";
import type { HubSpotSettings } from "./hubspot-settings";
import type { RecordFilter, SimRecord } from "./request-record";
import type { SendGridEventWebhook } from "./sendgrid-events";
import type { CallbackChaos, CallbackStats, SimLogger, WebhookAnswer } from "./status-callbacks";
import type { InboundSms } from "./twilio-inbound";

export interface SimulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Checked against Basic auth on Twilio calls and used to sign status callbacks. Default "simulator-auth-token". */
  twilioAuthToken?: string;
  /** Delay before every answer; default 0. */
  latencyMs?: number;
  /** Delay before each status callback and SendGrid event; default 50. */
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
  /** Where SendGrid events are posted (see `configureSendGridEvents`). Default: nowhere. */
  sendgridEventWebhookUrl?: string;
  /**
   * PEM private key (ECDSA P-256) that signs SendGrid events, for a verification key that outlives the process.
   * Default: a key pair made at start.
   */
  sendgridEventSigningKey?: string;
  /** Twilio Messages and Calls lists leave out what was created less than this long ago (see `setListLag`). Default 0. */
  listLagMs?: number;
  /** Where Twilio posts incoming messages (see `receiveSms`). Default: nowhere. */
  twilioInboundUrl?: string;
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
  /**
   * Twilio accepts messages and calls to this number but cannot deliver them: an SMS ends `undelivered` (ErrorCode
   * 30003), a call `no-answer`, in the resource and in its status callbacks. Until reset.
   */
  failDelivery(phone: string): void;
  /**
   * Twilio's Messages and Calls lists (GET of the collection) leave out resources created less than `ms` ago, as
   * Twilio's lists lag; fetch by sid sees them at once. Reset restores the `listLagMs` option.
   */
  setListLag(ms: number): void;
  /**
   * Sets (url given) or clears (null) where Twilio posts incoming messages, and returns the setting now in effect.
   * Reset restores the `twilioInboundUrl` option.
   */
  configureTwilioInbound(settings?: { url?: string | null }): { url: string | null };
  /**
   * Someone texts one of the account's numbers: Twilio's incoming-message webhook is posted to the inbound URL,
   * form-encoded and signed with X-Twilio-Signature (MessageSid, SmsSid, AccountSid, From, To, Body, NumMedia=0,
   * NumSegments=1, ApiVersion, and OptOutType for a keyword), and the message joins the Messages list as `inbound`.
   * Resolves with the receiver's answer; rejects when no inbound URL is set, `from` or `to` is not E.164, or the
   * receiver does not answer. As Twilio's default Advanced Opt-Out, a body that is STOP, STOPALL, UNSUBSCRIBE, CANCEL,
   * END or QUIT (trimmed, any case) unsubscribes the sender (21610 from then on) and START, YES or UNSTOP resubscribes
   * it, before the webhook is posted and whatever the receiver answers.
   */
  receiveSms(sms: InboundSms): Promise<WebhookAnswer>;
  /**
   * The key that verifies SendGrid events, as SendGrid's settings page shows it (base64 DER SubjectPublicKeyInfo):
   * `new EventWebhook().convertPublicKeyToECDSA(sim.sendgridEventPublicKey)`. The same for the simulator's life.
   */
  readonly sendgridEventPublicKey: string;
  /**
   * Sets (url given) or clears (null) where SendGrid events are posted, and returns the setting now in effect with the
   * verification key. For each recipient of an accepted mail (faults that accept included): `processed`, then
   * `delivered` (or `bounce`), `callbackDelayMs` apart, each a signed JSON array of one event that carries the mail's
   * custom_args at top level. Reset restores the `sendgridEventWebhookUrl` option.
   */
  configureSendGridEvents(settings?: { url?: string | null }): SendGridEventWebhook;
  /** SendGrid accepts mail to this address and then bounces it: `processed`, then `bounce` (5.1.1). Until reset. */
  bounceEmail(email: string): void;
  /**
   * Webhook chaos, for Twilio status callbacks and SendGrid events (an omitted rate is 0): each post is sent twice
   * with probability `duplicateRate`; a resource's posts arrive last first with probability `reorderRate` (its status
   * still changes in the true order). A rate outside 0..1 throws. Returns the chaos now in effect. Reset clears it.
   */
  setCallbackChaos(chaos: Partial<CallbackChaos>): CallbackChaos;
  /** Webhook posts since start or reset: sent (copies included), duplicated, reordered (resources), failed (no 2xx). */
  callbackStats(): CallbackStats;
  /** Changes the HubSpot portal's settings from now on (the fields given; a bad one throws) and returns them all. */
  configureHubSpot(settings?: Partial<HubSpotSettings>): HubSpotSettings;
  /** Requests the HubSpot portal answered and every 429 its rate limits gave (when, which policy). */
  hubSpotUsage(): HubSpotUsage;
  /** Puts a contact in the HubSpot portal as if someone had entered it (no request, no record); returns it with its id. */
  seedCrmContact(properties: Record<string, string>, id?: string): CrmContact;
  /**
   * Sets one property of a HubSpot contact (by id, or by email) as someone in HubSpot's UI would, e.g.
   * `setCrmContactProperty(id, "lifecyclestage", "opportunity")` for sales moving it on: no request, no record. The
   * value is checked as HubSpot checks a write (the property exists and takes it; "" clears it): a bad one throws, as
   * does a contact that does not exist. Returns the contact.
   */
  setCrmContactProperty(idOrEmail: string, name: string, value: string): CrmContact;
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
   * Back to a fresh state: records, faults, unsubscribes, undeliverable numbers and bounced addresses, Twilio
   * resources, pending callbacks and events, callback chaos and stats, latency, list lag and webhook URLs as the
   * options set them, and a fresh HubSpot portal (no contacts, built-in properties only, the settings it started with,
   * usage counters at zero). The SendGrid signing key stays.
   */
  reset(): void;
  /** Stops listening, destroys every open socket (hung ones included) and cancels pending callbacks. Idempotent. */
  close(): Promise<void>;
}
