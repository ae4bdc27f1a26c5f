export interface CrmContact {
  id: string;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

interface StoredContact extends CrmContact {
  /** What search sees, oldest first: a write becomes searchable only at `visibleAt` (HubSpot's indexing lag). */
  indexed: Array<{ visibleAt: number; properties: Record<string, string> }>;
}

/** A write the store is asked to check before applying: to an existing contact (`id`) or a new one (`id: null`). */
export interface PlannedWrite {
  id: string | null;
  values: Record<string, string>;
}

export interface UniqueConflict {
  /** Index of the write in the list checked. */
  index: number;
  property: string;
  value: string;
  /** The contact that holds the value already (or "another input" of the same batch). */
  holder: string;
}

export interface SearchFilter {
  propertyName: string;
  operator: string;
  value?: string;
  values?: string[];
}

const SEARCH_OPERATORS = new Set(["EQ", "NEQ", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"]);

/**
 * The portal's contacts, with HubSpot's uniqueness rules: one contact per email (compared without case; a merged
 * contact's email keeps pointing at the contact it was merged into) and one per value of each property declared
 * `hasUniqueValue`. Search reads a lagging copy of each contact.
 */
export class ContactStore {
  private contacts = new Map<string, StoredContact>();
  /** `${property}\u0000${value}` -> contact id, for email and every unique property. */
  private unique = new Map<string, string>();
  private nextId = 101;

  constructor(private readonly deps: { uniqueNames: () => string[]; searchLagMs: () => number }) {}

  reset(): void {
    this.contacts.clear();
    this.unique.clear();
    this.nextId = 101;
  }

  get(id: string): CrmContact | undefined {
    const contact = this.contacts.get(id);
    return contact && view(contact);
  }

  list(): CrmContact[] {
    return [...this.contacts.values()].map(view);
  }

  size(): number {
    return this.contacts.size;
  }

  /** The contact holding `value` for `property` (email, or a unique property), if any. */
  findBy(property: string, value: string): CrmContact | undefined {
    const id = this.unique.get(uniqueKey(property, value));
    return id === undefined ? undefined : this.get(id);
  }

  /** Checks writes for unique values held by another contact or by an earlier write of the same list; applies nothing. */
  conflicts(writes: PlannedWrite[]): UniqueConflict[] {
    const uniqueNames = ["email", ...this.deps.uniqueNames()];
    const claimed = new Map<string, string>();
    const found: UniqueConflict[] = [];
    writes.forEach((write, index) => {
      const self = write.id ?? `new input ${index}`;
      for (const property of uniqueNames) {
        const value = write.values[property];
        if (value === undefined || value === "") continue;
        const key = uniqueKey(property, value);
        const holder = claimed.get(key) ?? this.unique.get(key);
        if (holder !== undefined && holder !== self) {
          found.push({ index, property, value, holder: claimed.has(key) ? "another input of this batch" : holder });
        } else {
          claimed.set(key, self);
        }
      }
    });
    return found;
  }

  create(values: Record<string, string>, id?: string): CrmContact {
    const newId = id ?? this.freshId();
    if (this.contacts.has(newId)) throw new Error(`contact ${newId} exists already`);
    const conflict = this.conflicts([{ id: null, values }])[0];
    if (conflict) throw new Error(`${conflict.property} ${conflict.value} belongs to contact ${conflict.holder} already`);
    const now = new Date().toISOString();
    const contact: StoredContact = { id: newId, properties: {}, createdAt: now, updatedAt: now, indexed: [] };
    this.contacts.set(newId, contact);
    this.write(contact, { ...values, createdate: values.createdate ?? now });
    return view(contact);
  }

  /** Merges `values` into an existing contact (absolute values; "" clears). The caller checked uniqueness. */
  update(id: string, values: Record<string, string>): CrmContact {
    const contact = this.contacts.get(id);
    if (!contact) throw new Error(`no contact ${id}`);
    this.write(contact, values);
    return view(contact);
  }

  delete(id: string): boolean {
    const contact = this.contacts.get(id);
    if (!contact) return false;
    this.contacts.delete(id);
    for (const [key, holder] of this.unique) if (holder === id) this.unique.delete(key);
    return true;
  }

  /**
   * HubSpot's merge: `mergedId` answers 404 from now on; `primaryId` keeps its values and takes the merged one's where
   * it has none, except unique ones; the merged email becomes an additional email that still finds the primary.
   */
  merge(primaryId: string, mergedId: string): CrmContact {
    const primary = this.contacts.get(primaryId);
    const merged = this.contacts.get(mergedId);
    if (!primary || !merged || primaryId === mergedId) throw new Error(`cannot merge contact ${mergedId} into ${primaryId}: both must exist and differ`);
    const uniqueNames = new Set(["email", ...this.deps.uniqueNames()]);
    const fill: Record<string, string> = {};
    for (const [name, value] of Object.entries(merged.properties)) {
      if (!uniqueNames.has(name) && !SYSTEM_VALUES.has(name) && (primary.properties[name] ?? "") === "") fill[name] = value;
    }
    const mergedEmail = merged.properties.email;
    this.delete(mergedId);
    if (mergedEmail) {
      const additional = (primary.properties.hs_additional_emails ?? "").split(";").filter(Boolean);
      fill.hs_additional_emails = [...additional, mergedEmail].join(";");
      this.unique.set(uniqueKey("email", mergedEmail), primaryId);
    }
    this.write(primary, fill);
    return view(primary);
  }

  /** Contacts matching any filter group (all filters of a group), as the search index sees them now. */
  search(filterGroups: SearchFilter[][], now = Date.now()): CrmContact[] {
    const matches: CrmContact[] = [];
    for (const contact of this.contacts.values()) {
      const indexed = visible(contact, now);
      if (!indexed) continue;
      if (filterGroups.length === 0 || filterGroups.some((group) => group.every((filter) => matchesFilter(indexed, filter)))) {
        matches.push({ ...view(contact), properties: { ...indexed } });
      }
    }
    return matches;
  }

  private write(contact: StoredContact, values: Record<string, string>): void {
    const now = new Date();
    const before = contact.properties;
    const after: Record<string, string> = { ...before };
    for (const [name, value] of Object.entries(values)) after[name] = name === "email" ? value.toLowerCase() : value;
    after.hs_object_id = contact.id;
    after.lastmodifieddate = now.toISOString();
    for (const property of ["email", ...this.deps.uniqueNames()]) {
      if (before[property] === after[property]) continue;
      if (before[property]) {
        const key = uniqueKey(property, before[property]!);
        if (this.unique.get(key) === contact.id) this.unique.delete(key);
      }
      if (after[property]) this.unique.set(uniqueKey(property, after[property]!), contact.id);
    }
    contact.properties = after;
    contact.updatedAt = now.toISOString();
    contact.indexed.push({ visibleAt: now.getTime() + this.deps.searchLagMs(), properties: { ...after } });
    // Only the newest entry already visible matters for searches from now on; keep it and what follows.
    const current = contact.indexed.findLastIndex((entry) => entry.visibleAt <= now.getTime());
    if (current > 0) contact.indexed.splice(0, current);
  }

  private freshId(): string {
    while (this.contacts.has(String(this.nextId))) this.nextId++;
    return String(this.nextId++);
  }
}

const SYSTEM_VALUES = new Set(["hs_object_id", "createdate", "lastmodifieddate", "hs_additional_emails"]);

export function isSearchOperator(operator: string): boolean {
  return SEARCH_OPERATORS.has(operator);
}

function uniqueKey(property: string, value: string): string {
  return `${property}\u0000${property === "email" ? value.toLowerCase() : value.trim()}`;
}

function view(contact: StoredContact): CrmContact {
  return { id: contact.id, properties: { ...contact.properties }, createdAt: contact.createdAt, updatedAt: contact.updatedAt };
}

function visible(contact: StoredContact, now: number): Record<string, string> | undefined {
  for (let i = contact.indexed.length - 1; i >= 0; i--) {
    if (contact.indexed[i]!.visibleAt <= now) return contact.indexed[i]!.properties;
  }
  return undefined;
}

function matchesFilter(properties: Record<string, string>, filter: SearchFilter): boolean {
  const actual = (properties[filter.propertyName] ?? "").toLowerCase();
  const wanted = (filter.value ?? "").toLowerCase();
  const list = (filter.values ?? []).map((v) => v.toLowerCase());
  switch (filter.operator) {
    case "EQ":
      return actual !== "" && actual === wanted;
    case "NEQ":
      return actual !== wanted;
    case "IN":
      return actual !== "" && list.includes(actual);
    case "NOT_IN":
      return !list.includes(actual);
    case "HAS_PROPERTY":
      return actual !== "";
    case "NOT_HAS_PROPERTY":
      return actual === "";
    default:
      return false;
  }
}
