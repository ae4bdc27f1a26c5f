import { jsonReply, type Reply } from "./http-io";
import { isSearchOperator, type ContactStore, type CrmContact, type PlannedWrite, type SearchFilter, type UniqueConflict } from "./hubspot-contacts";
import type { PropertyStore } from "./hubspot-properties";
import { contactNotFound, hubSpotError, invalidInput, propertyValuesReply } from "./hubspot-replies";
import type { RequestRecord } from "./request-record";

const BATCH_LIMIT = 100;
/** What HubSpot returns for a contact when the request names no properties. */
const DEFAULT_PROPERTIES = ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"];

type Bag = Record<string, unknown>;

function isBag(value: unknown): value is Bag {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** HubSpot takes strings, numbers, booleans and null (which clears) as property values, and stores strings. */
function propertyValues(value: unknown, where: string): Record<string, string> | string {
  if (!isBag(value)) return `${where} must be an object of property values`;
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(value)) {
    if (v === null) out[name] = "";
    else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[name] = String(v);
    else return `${where}.${name} must be a string, number, boolean or null`;
  }
  return out;
}

interface BatchInput {
  id?: string;
  idProperty?: string;
  values: Record<string, string>;
  objectWriteTraceId?: string;
}

/**
 * HubSpot's contacts API: single reads and writes by id (404 for an unknown, deleted or merged-away id), create,
 * batch read / create / update / upsert (at most 100 inputs, no id twice), and search over a lagging index. A batch
 * is checked whole before anything is written: one refused value or unique conflict refuses the batch, as HubSpot
 * does; only ids that do not exist are reported per input (207 Multi-Status) while the rest is written.
 */
export class ContactRoutes {
  constructor(
    private readonly deps: {
      contacts: ContactStore;
      properties: PropertyStore;
      records: RequestRecord;
      rejectUnknownProperties: () => boolean;
    },
  ) {}

  read(id: string, query: URLSearchParams): Reply {
    const contact = this.resolve(id, query.get("idProperty") ?? undefined);
    if (!contact) return contactNotFound(id);
    const wanted = query.getAll("properties").flatMap((p) => p.split(",")).filter(Boolean);
    return jsonReply(200, present(contact, wanted.length > 0 ? wanted : undefined));
  }

  update(id: string, query: URLSearchParams, body: unknown): Reply {
    const contact = this.resolve(id, query.get("idProperty") ?? undefined);
    if (!contact) return contactNotFound(id);
    if (!isBag(body)) return invalidInput("expected an object with a \"properties\" object");
    const values = propertyValues(body.properties, "properties");
    if (typeof values === "string") return invalidInput(values);
    const refused = this.check([{ id: contact.id, values }]);
    if (refused) return refused;
    return jsonReply(200, present(this.write(contact.id, values)));
  }

  create(body: unknown): Reply {
    if (!isBag(body)) return invalidInput("expected an object with a \"properties\" object");
    const values = propertyValues(body.properties, "properties");
    if (typeof values === "string") return invalidInput(values);
    const refused = this.check([{ id: null, values }]);
    if (refused) return refused;
    return jsonReply(201, present(this.write(null, values)));
  }

  batchRead(body: unknown): Reply {
    const inputs = this.batchInputs(body, { values: false });
    if (typeof inputs === "string") return invalidInput(inputs);
    const { idProperty, properties } = body as Bag;
    if (idProperty !== undefined && !this.isIdProperty(idProperty)) return nonUniqueIdProperty(idProperty);
    const wanted = Array.isArray(properties) && properties.length > 0 ? properties.map(String) : undefined;
    const results: unknown[] = [];
    const missing: string[] = [];
    for (const input of inputs) {
      const contact = this.resolve(input.id!, idProperty as string | undefined);
      if (contact) results.push(present(contact, wanted));
      else missing.push(input.id!);
    }
    return batchReply(200, results, missing);
  }

  batchCreate(body: unknown): Reply {
    const inputs = this.batchInputs(body, { id: false });
    if (typeof inputs === "string") return invalidInput(inputs);
    const refused = this.check(inputs.map((input) => ({ id: null, values: input.values })));
    if (refused) return refused;
    return batchReply(201, inputs.map((input) => ({ ...present(this.write(null, input.values)), ...trace(input) })), []);
  }

  batchUpdate(body: unknown): Reply {
    const inputs = this.batchInputs(body);
    if (typeof inputs === "string") return invalidInput(inputs);
    const found: Array<{ contact: CrmContact; input: BatchInput }> = [];
    const missing: string[] = [];
    for (const input of inputs) {
      if (input.idProperty !== undefined && !this.isIdProperty(input.idProperty)) return nonUniqueIdProperty(input.idProperty);
      const contact = this.resolve(input.id!, input.idProperty);
      if (contact) found.push({ contact, input });
      else missing.push(input.id!);
    }
    // Values are checked for every input, found or not, before anything is written.
    const invalid = this.invalidValues(inputs.map((input) => input.values));
    if (invalid) return invalid;
    const refused = this.check(found.map(({ contact, input }) => ({ id: contact.id, values: input.values })));
    if (refused) return refused;
    const results = found.map(({ contact, input }) => ({ ...present(this.write(contact.id, input.values)), ...trace(input) }));
    return batchReply(200, results, missing);
  }

  /** Finds each input by its idProperty (email or a unique property) and updates it, or creates it with that value. */
  batchUpsert(body: unknown): Reply {
    const inputs = this.batchInputs(body);
    if (typeof inputs === "string") return invalidInput(inputs);
    const planned: Array<{ existing: CrmContact | undefined; input: BatchInput; values: Record<string, string> }> = [];
    for (const input of inputs) {
      if (input.idProperty === undefined) return invalidInput("every upsert input needs an idProperty (email or a property with unique values)");
      if (!this.isIdProperty(input.idProperty)) return nonUniqueIdProperty(input.idProperty);
      const existing = this.resolve(input.id!, input.idProperty);
      planned.push({ existing, input, values: existing ? input.values : { ...input.values, [input.idProperty]: input.id! } });
    }
    const refused = this.check(planned.map(({ existing, values }) => ({ id: existing?.id ?? null, values })));
    if (refused) return refused;
    const results = planned.map(({ existing, input, values }) => ({ ...present(this.write(existing?.id ?? null, values)), new: !existing, ...trace(input) }));
    return batchReply(200, results, []);
  }

  search(body: unknown): Reply {
    if (!isBag(body)) return invalidInput("expected a search request object");
    const groups = body.filterGroups ?? [];
    if (!Array.isArray(groups) || groups.length > 5) return invalidInput("filterGroups must be a list of at most 5 groups");
    const filterGroups: SearchFilter[][] = [];
    let total = 0;
    for (const group of groups) {
      const filters = isBag(group) ? group.filters : undefined;
      if (!Array.isArray(filters) || filters.length > 6) return invalidInput("each filter group needs a list of at most 6 filters");
      total += filters.length;
      const parsed: SearchFilter[] = [];
      for (const filter of filters) {
        if (!isBag(filter) || typeof filter.propertyName !== "string" || typeof filter.operator !== "string" || !isSearchOperator(filter.operator)) {
          return invalidInput("each filter needs a propertyName and a supported operator (EQ, NEQ, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY)");
        }
        parsed.push({
          propertyName: filter.propertyName,
          operator: filter.operator,
          ...(filter.value !== undefined && { value: String(filter.value) }),
          ...(Array.isArray(filter.values) && { values: filter.values.map(String) }),
        });
      }
      filterGroups.push(parsed);
    }
    if (total > 18) return invalidInput("a search takes at most 18 filters in all");
    const limit = body.limit === undefined ? 10 : Number(body.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) return invalidInput("limit must be 1 to 200");
    const offset = body.after === undefined ? 0 : Number(body.after);
    const wanted = Array.isArray(body.properties) && body.properties.length > 0 ? [...DEFAULT_PROPERTIES, ...body.properties.map(String)] : DEFAULT_PROPERTIES;
    const matches = this.deps.contacts.search(filterGroups).sort((a, b) => Number(a.id) - Number(b.id) || a.id.localeCompare(b.id));
    const page = matches.slice(offset, offset + limit).map((contact) => present(contact, wanted));
    const next = offset + limit < matches.length ? { paging: { next: { after: String(offset + limit) } } } : {};
    return jsonReply(200, { total: matches.length, results: page, ...next });
  }

  private resolve(id: string, idProperty: string | undefined): CrmContact | undefined {
    if (idProperty === undefined || idProperty === "hs_object_id") return this.deps.contacts.get(id);
    return this.deps.contacts.findBy(idProperty, id);
  }

  private isIdProperty(name: unknown): name is string {
    return name === "email" || name === "hs_object_id" || (typeof name === "string" && this.deps.properties.uniqueNames().includes(name));
  }

  /** Every write of a request checked together: values first (400), then unique values (409). */
  private check(writes: PlannedWrite[]): Reply | undefined {
    const invalid = this.invalidValues(writes.map((w) => w.values));
    if (invalid) return invalid;
    const conflicts = this.deps.contacts.conflicts(writes);
    if (conflicts.length > 0) return conflictReply(conflicts);
    return undefined;
  }

  private invalidValues(values: Array<Record<string, string>>): Reply | undefined {
    const invalid = values.flatMap((v) => this.deps.properties.validateValues(v, this.deps.rejectUnknownProperties()));
    return invalid.length > 0 ? propertyValuesReply(invalid) : undefined;
  }

  private write(id: string | null, values: Record<string, string>): CrmContact {
    const contact = id === null ? this.deps.contacts.create(values) : this.deps.contacts.update(id, values);
    this.deps.records.add({
      provider: "hubspot",
      operation: id === null ? "contact.create" : "contact.update",
      id: contact.id,
      to: contact.id,
      body: JSON.stringify(values),
      properties: values,
    });
    return contact;
  }

  private batchInputs(body: unknown, needs: { id?: boolean; values?: boolean } = {}): BatchInput[] | string {
    const needsId = needs.id ?? true;
    const needsValues = needs.values ?? true;
    const inputs = isBag(body) ? body.inputs : undefined;
    if (!Array.isArray(inputs)) return "expected an object with an \"inputs\" list";
    if (inputs.length > BATCH_LIMIT) return `a batch takes at most ${BATCH_LIMIT} inputs, got ${inputs.length}`;
    const parsed: BatchInput[] = [];
    const seen = new Set<string>();
    const duplicates = new Set<string>();
    for (const [i, input] of inputs.entries()) {
      if (!isBag(input)) return `inputs[${i}] must be an object`;
      const entry: BatchInput = { values: {} };
      if (needsId) {
        if (typeof input.id !== "string" && typeof input.id !== "number") return `inputs[${i}].id is required`;
        entry.id = String(input.id);
        if (input.idProperty !== undefined) entry.idProperty = String(input.idProperty);
        const key = (entry.idProperty ?? "hs_object_id") + "\u0000" + (entry.idProperty === "email" ? entry.id.toLowerCase() : entry.id);
        if (seen.has(key)) duplicates.add(entry.id);
        seen.add(key);
      }
      if (needsValues) {
        const values = propertyValues(input.properties, `inputs[${i}].properties`);
        if (typeof values === "string") return values;
        entry.values = values;
      }
      if (typeof input.objectWriteTraceId === "string") entry.objectWriteTraceId = input.objectWriteTraceId;
      parsed.push(entry);
    }
    if (duplicates.size > 0) return `Duplicate IDs found in batch input: [${[...duplicates].join(", ")}]. IDs must be unique`;
    return parsed;
  }
}

function trace(input: BatchInput): { objectWriteTraceId?: string } {
  return input.objectWriteTraceId === undefined ? {} : { objectWriteTraceId: input.objectWriteTraceId };
}

function present(contact: CrmContact, wanted?: string[]): Record<string, unknown> {
  const properties = wanted === undefined ? contact.properties : Object.fromEntries(wanted.filter((p) => p in contact.properties).map((p) => [p, contact.properties[p]!]));
  return { id: contact.id, properties, createdAt: contact.createdAt, updatedAt: contact.updatedAt, archived: false };
}

/** A batch answer; ids that do not exist turn it into HubSpot's 207 Multi-Status with one error naming them. */
function batchReply(status: number, results: unknown[], missing: string[]): Reply {
  const now = new Date().toISOString();
  const base = { status: "COMPLETE", results, startedAt: now, completedAt: now };
  if (missing.length === 0) return jsonReply(status, base);
  return jsonReply(207, {
    ...base,
    numErrors: 1,
    errors: [
      {
        status: "error",
        category: "OBJECT_NOT_FOUND",
        message: "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.",
        context: { ids: missing },
        errors: [],
        links: {},
      },
    ],
  });
}

function conflictReply(conflicts: UniqueConflict[]): Reply {
  const first = conflicts[0]!;
  const existing = first.holder.startsWith("another") ? first.holder : `Existing ID: ${first.holder}`;
  return hubSpotError(409, "CONFLICT", `Contact already exists with ${first.property} "${first.value}". ${existing}`, {
    errors: conflicts.map((c) => ({ message: `${c.property} "${c.value}" belongs to ${c.holder}`, code: "CONFLICT", context: { propertyName: [c.property] } })),
  });
}

function nonUniqueIdProperty(name: unknown): Reply {
  return hubSpotError(400, "VALIDATION_ERROR", `Unable to perform update/upsert by non-unique 0-1 property ${JSON.stringify(name)}`);
}
