/** The contact as Nudge knows it, for finding or creating it in the CRM. */
export interface CrmContactRef {
  /** Nudge's own contact id: written to the CRM as a unique property, so that creating a contact is idempotent. */
  contactId: number;
  /** The CRM id stored last time, if any; it may since have been deleted or merged away. */
  crmId: string | null;
  name: string;
  email: string | null;
  phone: string | null;
}

/**
 * The CRM side of a message: absolute property values only, so that a retry writes the same thing again.
 * Errors: PermanentProviderError (this contact's write is refused for good), CrmPortalError (the whole portal is
 * unusable: bad token, missing scope, Nudge's properties missing), NotAcceptedError (retry, after retryAfterMs when
 * given, e.g. a rate limit).
 */
export interface CrmGateway {
  /**
   * Writes `properties` to the contact, finding it first (stored id; else by email; else by phone) or creating it,
   * and returns its CRM id for the caller to store.
   */
  upsertContact(contact: CrmContactRef, properties: Record<string, string>): Promise<string>;
  /**
   * The contact's lifecycle stage (HubSpot's `lifecyclestage`, e.g. `lead`, `opportunity`), or undefined when it has
   * none. Read by the drip step after its write, when a stop stage is configured.
   */
  lifecycleStage?(crmId: string): Promise<string | undefined>;
  /** Whether the portal can take Nudge's writes (token valid, scopes granted, Nudge's properties exist). */
  checkReady(): Promise<CrmReadiness>;
}

export type CrmReadiness = { ready: true } | { ready: false; reason: string };
