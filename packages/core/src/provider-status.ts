import type { Channel } from "./channel";

/**
 * What a provider's status report (a Twilio status callback, a SendGrid event, an entry in a provider's list) says
 * about a message it has:
 * - `accepted`: the provider has the message (queued, sent, delivered, a call that rang or was answered);
 * - `undelivered`: the provider had it but could not get it to the recipient (Twilio `undelivered`/`failed`, a call
 *   nobody answered, a SendGrid `bounce`/`dropped`). The message was not sent twice and must not be: the recipient
 *   was not reached, which the next step of a plan treats as such.
 *
 * `rank` orders a message's statuses along its life, so that a replayed or late report never moves a delivery
 * backwards: a report is applied only when its rank is higher than the one already recorded. The end states share
 * the highest rank: the first one reported stands.
 */
export interface ProviderStatus {
  channel: Channel;
  status: string;
  outcome: "accepted" | "undelivered";
  rank: number;
}

const FINAL = 10;

const SMS: Record<string, [ProviderStatus["outcome"], number]> = {
  accepted: ["accepted", 1],
  scheduled: ["accepted", 1],
  queued: ["accepted", 2],
  sending: ["accepted", 3],
  sent: ["accepted", 4],
  delivered: ["accepted", FINAL],
  read: ["accepted", FINAL],
  undelivered: ["undelivered", FINAL],
  failed: ["undelivered", FINAL],
};

const VOICE: Record<string, [ProviderStatus["outcome"], number]> = {
  queued: ["accepted", 1],
  initiated: ["accepted", 2],
  ringing: ["accepted", 3],
  "in-progress": ["accepted", 4],
  completed: ["accepted", FINAL],
  busy: ["undelivered", FINAL],
  "no-answer": ["undelivered", FINAL],
  failed: ["undelivered", FINAL],
  canceled: ["undelivered", FINAL],
};

const EMAIL: Record<string, [ProviderStatus["outcome"], number]> = {
  processed: ["accepted", 1],
  deferred: ["accepted", 2],
  delivered: ["accepted", FINAL],
  bounce: ["undelivered", FINAL],
  dropped: ["undelivered", FINAL],
};

const BY_CHANNEL: Record<Channel, Record<string, [ProviderStatus["outcome"], number]>> = { sms: SMS, voice: VOICE, email: EMAIL };

/** The meaning of a provider's status for a message on `channel`; undefined for a status that says nothing about delivery (e.g. `open`). */
export function interpretProviderStatus(channel: Channel, status: string): ProviderStatus | undefined {
  const entry = BY_CHANNEL[channel][status.toLowerCase()];
  return entry && { channel, status: status.toLowerCase(), outcome: entry[0], rank: entry[1] };
}

/** Twilio's default opt-out and opt-in keywords (Advanced Opt-Out off or on, these always apply), and HELP. */
export const OPT_OUT_KEYWORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"] as const;
export const OPT_IN_KEYWORDS = ["START", "YES", "UNSTOP"] as const;
export const HELP_KEYWORDS = ["HELP", "INFO"] as const;

/** What an inbound SMS asks for: Twilio matches the whole message, trimmed, case-insensitively. */
export function smsKeyword(body: string): "opt-out" | "opt-in" | "help" | undefined {
  const word = body.trim().toUpperCase();
  if ((OPT_OUT_KEYWORDS as readonly string[]).includes(word)) return "opt-out";
  if ((OPT_IN_KEYWORDS as readonly string[]).includes(word)) return "opt-in";
  if ((HELP_KEYWORDS as readonly string[]).includes(word)) return "help";
  return undefined;
}

/** A recipient as the suppression list keys it: E.164 for phones (as given: Nudge stores E.164), lower case for email. */
export function normalizeAddress(channel: Channel, address: string): string {
  return channel === "email" ? address.trim().toLowerCase() : address.trim();
}
