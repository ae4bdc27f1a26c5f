import { NotAcceptedError, PermanentProviderError } from "@nudge/core";
import { FilterOperatorEnum, type StandardError } from "@hubspot/api-client/lib/codegen/crm/contacts";
import type { HubSpotApi } from "./hubspot-api";
import { Batcher } from "./hubspot-batcher";
import { NUDGE_CONTACT_ID } from "./hubspot-properties";

const BATCH_LIMIT = 100;
/** HubSpot's search takes at most 5 filter groups (ORed): 5 phone numbers per request. */
const SEARCH_LIMIT = 5;
/** What a batch read asks for: every read of a batch shares the request's property list, so the list is fixed. */
const READ_PROPERTIES = ["lifecyclestage"];

export type UpdateOutcome = { id: string } | { notFound: true };
/** A contact's values of READ_PROPERTIES (null or absent: no value), or `notFound` when HubSpot has no such contact. */
export type ReadOutcome = { properties: Record<string, string | null> } | { notFound: true };
export type UpsertKey = "email" | typeof NUDGE_CONTACT_ID;

interface UpdateInput {
  id: string;
  properties: Record<string, string>;
}

interface UpsertInput {
  id: string;
  properties: Record<string, string>;
}

interface PhoneQuery {
  phone: string;
  contactId: number;
}

/** One contact's answer inside a batch answer: its result, or why it has none. */
type Slot<R> = R | Error;

/**
 * Nudge's contact calls as HubSpot batch requests, shared by every job of this process: updates by id, upserts by
 * email or by nudge_contact_id, reads by id, and searches by phone. A batch HubSpot refuses as a whole for one
 * input's sake (a refused value, a conflict) is split in halves until the culprit stands alone, so that only its
 * caller gets the error; a portal-wide refusal (token, scope, missing property) or an outage reaches every caller of
 * the batch.
 */
export class HubSpotContactBatches {
  private readonly updates: Batcher<UpdateInput, UpdateOutcome>;
  private readonly upserts: Record<UpsertKey, Batcher<UpsertInput, string>>;
  private readonly searches: Batcher<PhoneQuery, { id: string | undefined }>;
  private readonly reads: Batcher<string, ReadOutcome>;

  constructor(
    private readonly api: HubSpotApi,
    windowMs: number,
  ) {
    const beforeClose = () => api.acquire();
    this.updates = new Batcher({ maxSize: BATCH_LIMIT, windowMs, beforeClose, key: (i) => i.id, run: (inputs) => this.runUpdates(inputs, true) });
    const upsertBatcher = (idProperty: UpsertKey) =>
      new Batcher<UpsertInput, string>({
        maxSize: BATCH_LIMIT,
        windowMs,
        beforeClose,
        key: (i) => normalise(idProperty, i.id),
        run: (inputs) => this.runUpserts(idProperty, inputs, true),
      });
    this.upserts = { email: upsertBatcher("email"), [NUDGE_CONTACT_ID]: upsertBatcher(NUDGE_CONTACT_ID) } as Record<UpsertKey, Batcher<UpsertInput, string>>;
    this.reads = new Batcher({ maxSize: BATCH_LIMIT, windowMs, beforeClose, key: (id) => id, run: (ids) => this.runReads(ids, true) });
    this.searches = new Batcher({
      maxSize: SEARCH_LIMIT,
      windowMs,
      beforeClose,
      key: (q) => `${q.phone}\u0000${q.contactId}`,
      run: (queries) => this.runSearch(queries),
    });
  }

  /** Writes the properties to contact `id`; `notFound` when HubSpot has no such contact (deleted or merged away). */
  update(id: string, properties: Record<string, string>): Promise<UpdateOutcome> {
    return this.updates.add({ id, properties });
  }

  /** Finds the contact whose `idProperty` is `id` and writes the properties, or creates it with them; its id. */
  upsert(idProperty: UpsertKey, id: string, properties: Record<string, string>): Promise<string> {
    return this.upserts[idProperty].add({ id, properties });
  }

  /** Contact `id`'s values of READ_PROPERTIES (lifecyclestage); `notFound` when HubSpot has no such contact. */
  read(id: string): Promise<ReadOutcome> {
    return this.reads.add(id);
  }

  /**
   * The contact with this phone number, as HubSpot's search sees it (it lags: a contact created a moment ago may not
   * be found). Among several: the one already carrying this Nudge contact id, else the oldest carrying none.
   */
  async findByPhone(phone: string, contactId: number): Promise<string | undefined> {
    return (await this.searches.add({ phone, contactId })).id;
  }

  private async runUpdates(inputs: UpdateInput[], tokenHeld: boolean): Promise<Array<Slot<UpdateOutcome>>> {
    let response;
    try {
      response = await this.api.call(
        "batch update",
        (o) => this.api.contacts.batch.update({ inputs: inputs.map((input, i) => ({ ...input, objectWriteTraceId: String(i) })) }, o),
        { tokenHeld },
      );
    } catch (failure) {
      if (isNotFound(failure) && inputs.length === 1) return [{ notFound: true }];
      return this.splitOrFail(failure, inputs, (half) => this.runUpdates(half, false));
    }
    const byTrace = new Map(response.results.map((r) => [r.objectWriteTraceId, r.id]));
    const byId = new Set(response.results.map((r) => r.id));
    const errors = "errors" in response ? (response.errors ?? []) : [];
    return inputs.map((input, i): Slot<UpdateOutcome> => {
      const id = byTrace.get(String(i)) ?? (byId.has(input.id) ? input.id : undefined);
      if (id !== undefined) return { id };
      const error = errors.find((e) => mentions(e, input.id, i));
      if (error?.category === "OBJECT_NOT_FOUND") return { notFound: true };
      return error ? inputError(error, "batch update") : noResult("batch update", "the write is idempotent");
    });
  }

  private async runUpserts(idProperty: UpsertKey, inputs: UpsertInput[], tokenHeld: boolean): Promise<Array<Slot<string>>> {
    let response;
    try {
      response = await this.api.call(
        `batch upsert by ${idProperty}`,
        (o) => this.api.contacts.batch.upsert({ inputs: inputs.map((input, i) => ({ idProperty, ...input, objectWriteTraceId: String(i) })) }, o),
        { tokenHeld },
      );
    } catch (failure) {
      return this.splitOrFail(failure, inputs, (half) => this.runUpserts(idProperty, half, false));
    }
    const byTrace = new Map(response.results.map((r) => [r.objectWriteTraceId, r.id]));
    const byKey = new Map(response.results.map((r) => [normalise(idProperty, r.properties?.[idProperty] ?? ""), r.id]));
    const errors = "errors" in response ? (response.errors ?? []) : [];
    return inputs.map((input, i): Slot<string> => {
      const id = byTrace.get(String(i)) ?? byKey.get(normalise(idProperty, input.id));
      if (id !== undefined) return id;
      const error = errors.find((e) => mentions(e, input.id, i));
      return error ? inputError(error, `batch upsert by ${idProperty}`) : noResult(`batch upsert by ${idProperty}`, "the write is idempotent");
    });
  }

  private async runReads(ids: string[], tokenHeld: boolean): Promise<Array<Slot<ReadOutcome>>> {
    let response;
    try {
      response = await this.api.call(
        "batch read",
        (o) => this.api.contacts.batch.read({ inputs: ids.map((id) => ({ id })), properties: READ_PROPERTIES, propertiesWithHistory: [] }, false, o),
        { tokenHeld },
      );
    } catch (failure) {
      if (isNotFound(failure) && ids.length === 1) return [{ notFound: true }];
      return this.splitOrFail(failure, ids, (half) => this.runReads(half, false));
    }
    const byId = new Map(response.results.map((r) => [r.id, r.properties]));
    const errors = "errors" in response ? (response.errors ?? []) : [];
    return ids.map((id, i): Slot<ReadOutcome> => {
      const properties = byId.get(id);
      if (properties !== undefined) return { properties };
      const error = errors.find((e) => mentions(e, id, i));
      if (error?.category === "OBJECT_NOT_FOUND") return { notFound: true };
      if (error) return new PermanentProviderError(`HubSpot refused to read this contact for good (batch read: ${error.category}: ${error.message})`, { code: error.category, status: 400 });
      // Neither: e.g. HubSpot answered a merged-away id with the contact it was merged into, under that contact's id,
      // which names no input. The caller retries, and its write (which comes first) then returns the surviving id.
      return noResult("batch read", "a read changes nothing");
    });
  }

  private async runSearch(queries: PhoneQuery[]): Promise<Array<Slot<{ id: string | undefined }>>> {
    const phones = [...new Set(queries.map((q) => q.phone))];
    const response = await this.api.call(
      "search by phone",
      (o) =>
        this.api.contacts.search.doSearch(
          {
            filterGroups: phones.map((value) => ({ filters: [{ propertyName: "phone", operator: FilterOperatorEnum.Eq, value }] })),
            properties: ["phone", NUDGE_CONTACT_ID, "createdate"],
            limit: 100,
          },
          o,
        ),
      { tokenHeld: true },
    );
    return queries.map((query) => {
      // HubSpot may store a number formatted otherwise than Nudge sent it: compare digits.
      const candidates = response.results
        .filter((c) => digits(c.properties.phone ?? "") === digits(query.phone))
        .sort((a, b) => (a.properties.createdate ?? "").localeCompare(b.properties.createdate ?? "") || Number(a.id) - Number(b.id));
      const ours = candidates.find((c) => c.properties[NUDGE_CONTACT_ID] === String(query.contactId));
      const unclaimed = candidates.find((c) => !c.properties[NUDGE_CONTACT_ID]);
      return { id: (ours ?? unclaimed)?.id };
    });
  }

  /**
   * HubSpot refused the batch as a whole. A refusal that may be one input's (a 4xx for a value, a unique conflict)
   * is tried again in halves, so that it ends with its own caller; anything else is every caller's.
   */
  private async splitOrFail<I, R>(failure: unknown, inputs: I[], run: (half: I[]) => Promise<Array<Slot<R>>>): Promise<Array<Slot<R>>> {
    const oneInputsFault = failure instanceof PermanentProviderError || (failure instanceof NotAcceptedError && failure.status === 409);
    if (!oneInputsFault || inputs.length === 1) return inputs.map(() => failure as Error);
    const middle = Math.ceil(inputs.length / 2);
    const [first, second] = await Promise.all([run(inputs.slice(0, middle)), run(inputs.slice(middle))]);
    return [...first, ...second];
  }
}

function normalise(idProperty: UpsertKey, value: string): string {
  return idProperty === "email" ? value.trim().toLowerCase() : value.trim();
}

function digits(phone: string): string {
  return phone.replace(/\D/g, "");
}

function isNotFound(failure: unknown): boolean {
  return failure instanceof PermanentProviderError && failure.status === 404;
}

/** Whether a per-input error of a 207 answer names this input: by id (HubSpot's `context.ids`) or its trace id. */
function mentions(error: StandardError, id: string, index: number): boolean {
  const context = error.context ?? {};
  const ids = [...(context.ids ?? []), ...(context.id ?? [])].map((v) => v.toLowerCase());
  return ids.includes(id.toLowerCase()) || (context.objectWriteTraceId ?? []).includes(String(index));
}

function inputError(error: StandardError, what: string): Error {
  if (error.category === "CONFLICT") {
    return new NotAcceptedError(`HubSpot answered a conflict (${what}: ${error.message}); another write got there first: retry`, { status: 409 });
  }
  return new PermanentProviderError(`HubSpot refused this contact's write for good (${what}: ${error.category}: ${error.message})`, { code: error.category, status: 400 });
}

/** `safe`: why asking again is harmless. */
function noResult(what: string, safe: string): NotAcceptedError {
  return new NotAcceptedError(`HubSpot's ${what} answer named no result and no error for this contact; ${safe}: retry`);
}
