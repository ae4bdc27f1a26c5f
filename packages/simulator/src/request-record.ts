export const SIM_PROVIDERS = ["twilio-sms", "twilio-voice", "sendgrid", "hubspot"] as const;
export type SimProvider = (typeof SIM_PROVIDERS)[number];

/** One request the simulated provider accepted: the ground truth for "did this phone ring twice?". */
export interface SimRecord {
  seq: number;
  provider: SimProvider;
  /** Twilio sid, SendGrid X-Message-Id, HubSpot contact id. */
  id: string;
  /** Phone number, email address or HubSpot contact id. */
  to: string;
  /** SMS text, the call's TwiML (or its Url), the email's content, or the HubSpot properties as JSON. */
  body: string;
  subject?: string;
  /** As it travelled on the wire (a string): the StatusCallback's `deliveryId` query parameter or custom_args.deliveryId. */
  deliveryId?: string;
  properties?: Record<string, string>;
  /**
   * HubSpot only: what was written. `contact.create` / `contact.update` (id and to: the contact id; one record per
   * contact of a batch), `property.create` / `group.create` (id and to: its name).
   */
  operation?: "contact.create" | "contact.update" | "property.create" | "group.create";
  /** ISO timestamp of acceptance. */
  at: string;
}

export interface RecordFilter {
  provider?: SimProvider;
  to?: string;
  deliveryId?: string | number;
  /** Only records with a seq greater than this one. */
  afterSeq?: number;
}

/** Append-only, in memory: a benchmark pushes tens of thousands of requests through, so no per-request I/O. */
export class RequestRecord {
  private entries: SimRecord[] = [];
  private nextSeq = 1;

  add(entry: Omit<SimRecord, "seq" | "at">): SimRecord {
    const record: SimRecord = { seq: this.nextSeq++, ...entry, at: new Date().toISOString() };
    this.entries.push(record);
    return record;
  }

  list(filter: RecordFilter = {}): SimRecord[] {
    const deliveryId = filter.deliveryId === undefined ? undefined : String(filter.deliveryId);
    return this.entries.filter(
      (r) =>
        (filter.provider === undefined || r.provider === filter.provider) &&
        (filter.to === undefined || r.to === filter.to) &&
        (deliveryId === undefined || r.deliveryId === deliveryId) &&
        (filter.afterSeq === undefined || r.seq > filter.afterSeq),
    );
  }

  /** Clears the entries; seq keeps counting so that a record seen before a clear is never confused with a later one. */
  clear(): void {
    this.entries = [];
  }
}

export function parseRecordFilter(query: URLSearchParams): RecordFilter {
  const filter: RecordFilter = {};
  const provider = query.get("provider");
  if (provider !== null) {
    if (!(SIM_PROVIDERS as readonly string[]).includes(provider)) {
      throw new Error(`provider must be one of ${SIM_PROVIDERS.join(", ")}, got "${provider}"`);
    }
    filter.provider = provider as SimProvider;
  }
  const to = query.get("to");
  if (to !== null) filter.to = to;
  const deliveryId = query.get("deliveryId");
  if (deliveryId !== null) filter.deliveryId = deliveryId;
  const afterSeq = query.get("afterSeq");
  if (afterSeq !== null) filter.afterSeq = Number(afterSeq);
  return filter;
}
