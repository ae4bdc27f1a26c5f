/** Twilio lists newest first; a recipient does not get this many messages or calls within one reconciliation window. */
export const LOOKUP_LIMIT = 200;

/** Twilio's timestamps have whole seconds: compare against `since` truncated to its second. */
export function createdSince(createdAt: Date | null | undefined, since: Date): boolean {
  return createdAt instanceof Date && createdAt.getTime() >= Math.floor(since.getTime() / 1000) * 1000;
}
