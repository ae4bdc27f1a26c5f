import { databaseEnv, logEnv, parseEnv, positiveInt, providerEnv } from "@nudge/config";
import { minimumLease } from "@nudge/send-guard";
import { z } from "zod";

// The reconciler reads and sends on the message channels only; HubSpot is the workers' business.
const { HUBSPOT_ACCESS_TOKEN: _token, HUBSPOT_BASE_URL: _base, ...messageProviderEnv } = providerEnv;

const schema = z
  .object({
    ...databaseEnv,
    ...logEnv,
    ...messageProviderEnv,
    /** Long-running mode: time between passes. */
    RECONCILE_INTERVAL_MS: positiveInt(10_000),
    /**
     * How long after a delivery became `unknown` the provider's list is trusted: a message that exists shows up in
     * it by then. Default: PROVIDER_TIMEOUT_MS plus 60 s for the list's lag.
     */
    RECONCILE_SETTLE_MS: z.coerce.number({ message: "expected a number of milliseconds" }).int().positive().optional(),
    /**
     * `on` when SendGrid's Event Webhook reaches Nudge (apps/api, SENDGRID_WEBHOOK_PUBLIC_KEY): then an email with no
     * event within RECONCILE_EMAIL_SETTLE_MS was never accepted and is sent again.
     */
    SENDGRID_EVENTS: z.enum(["on", "off"]).default("off"),
    /**
     * `on` when the SendGrid account has the Email Activity API (a paid add-on; the API key needs its scope): unknown
     * emails are then looked up by delivery id, the way SMS are in Twilio's list, instead of inferred from silence.
     */
    SENDGRID_EMAIL_ACTIVITY: z.enum(["on", "off"]).default("off"),
    /** SendGrid sends `processed` within seconds; its own delays can reach minutes. Default 15 minutes. */
    RECONCILE_EMAIL_SETTLE_MS: positiveInt(15 * 60_000),
    /** With SENDGRID_EVENTS=off: what an unknown email becomes. See the README for why give-up is the default. */
    EMAIL_NO_EVIDENCE_POLICY: z.enum(["give-up", "resend", "operator"]).default("give-up"),
    /** How often one delivery may be sent again after the provider confirmed it never had it. */
    RECONCILE_MAX_RESENDS: positiveInt(1),
    SEND_LEASE_MS: z.coerce.number({ message: "expected a number of milliseconds" }).int().positive().optional(),
    /** How far a provider's list may lag: after a 5xx, "not in the list" is believed only this long after it. */
    LOOKUP_SETTLE_MS: positiveInt(10_000),
    SHUTDOWN_GRACE_MS: positiveInt(25_000),
  })
  .refine((env) => env.SEND_LEASE_MS === undefined || env.SEND_LEASE_MS >= minimumLease(env.PROVIDER_TIMEOUT_MS), {
    message: "SEND_LEASE_MS must leave room for one provider call and its record: at least PROVIDER_TIMEOUT_MS + 6000",
    path: ["SEND_LEASE_MS"],
  });

export type ReconcilerEnv = z.infer<typeof schema>;

export function loadReconcilerEnv(env: NodeJS.ProcessEnv = process.env): ReconcilerEnv {
  return parseEnv(schema, env);
}
