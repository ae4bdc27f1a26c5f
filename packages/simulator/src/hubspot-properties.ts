import type { PropertyValueError } from "./hubspot-replies";

export const PROPERTY_TYPES = ["string", "number", "date", "datetime", "enumeration", "bool"] as const;
const FIELD_TYPES = ["text", "textarea", "number", "date", "select", "radio", "checkbox", "booleancheckbox", "phonenumber", "html", "file", "calculation_equation"];

export interface CrmPropertyOption {
  label: string;
  value: string;
  displayOrder: number;
  hidden: boolean;
}

/** A contact property as HubSpot's properties API describes it (the fields the SDK reads). */
export interface CrmProperty {
  name: string;
  label: string;
  type: string;
  fieldType: string;
  groupName: string;
  description: string;
  options: CrmPropertyOption[];
  displayOrder: number;
  hasUniqueValue: boolean;
  hidden: boolean;
  formField: boolean;
  calculated: boolean;
  externalOptions: boolean;
  archived: boolean;
  hubspotDefined?: boolean;
  createdAt: string;
  updatedAt: string;
  modificationMetadata: { archivable: boolean; readOnlyDefinition: boolean; readOnlyValue: boolean };
}

export interface CrmPropertyGroup {
  name: string;
  label: string;
  displayOrder: number;
  archived: boolean;
}

const BUILT_IN_GROUPS: Array<[string, string]> = [
  ["contactinformation", "Contact information"],
  ["emailinformation", "Email information"],
  ["sales_properties", "Sales properties"],
];

/** [name, label, type, fieldType, group, read-only value]: a portal's contact properties before anyone adds one. */
const BUILT_IN_PROPERTIES: Array<[string, string, string, string, string, boolean?]> = [
  ["email", "Email", "string", "text", "contactinformation"],
  ["firstname", "First Name", "string", "text", "contactinformation"],
  ["lastname", "Last Name", "string", "text", "contactinformation"],
  ["phone", "Phone Number", "string", "phonenumber", "contactinformation"],
  ["mobilephone", "Mobile Phone Number", "string", "phonenumber", "contactinformation"],
  ["company", "Company Name", "string", "text", "contactinformation"],
  ["jobtitle", "Job Title", "string", "text", "contactinformation"],
  ["city", "City", "string", "text", "contactinformation"],
  ["country", "Country/Region", "string", "text", "contactinformation"],
  ["lifecyclestage", "Lifecycle Stage", "enumeration", "radio", "contactinformation"],
  ["hubspot_owner_id", "Contact owner", "enumeration", "select", "sales_properties"],
  ["hs_additional_emails", "Additional email addresses", "enumeration", "checkbox", "emailinformation", true],
  ["createdate", "Create Date", "datetime", "date", "contactinformation"],
  ["lastmodifieddate", "Last Modified Date", "datetime", "date", "contactinformation", true],
  ["hs_object_id", "Record ID", "number", "number", "contactinformation", true],
];

/** Values HubSpot fills in itself. */
export const SYSTEM_PROPERTIES = new Set(["hs_object_id", "createdate", "lastmodifieddate", "hs_additional_emails"]);

const LIFECYCLE_STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist", "other"];

/** The portal's contact property groups and properties, with HubSpot's checks on creating them and on the values written. */
export class PropertyStore {
  private groups = new Map<string, CrmPropertyGroup>();
  private properties = new Map<string, CrmProperty>();

  constructor() {
    this.reset();
  }

  reset(): void {
    this.groups = new Map(BUILT_IN_GROUPS.map(([name, label], i) => [name, { name, label, displayOrder: i, archived: false }]));
    const at = new Date(0).toISOString();
    this.properties = new Map(
      BUILT_IN_PROPERTIES.map(([name, label, type, fieldType, groupName, readOnlyValue], i) => {
        const options = name === "lifecyclestage" ? LIFECYCLE_STAGES.map((value, order) => ({ label: value, value, displayOrder: order, hidden: false })) : [];
        const property: CrmProperty = {
          ...defaults(name, label, type, fieldType, groupName, at),
          options,
          displayOrder: i,
          hubspotDefined: true,
          modificationMetadata: { archivable: false, readOnlyDefinition: true, readOnlyValue: readOnlyValue ?? false },
        };
        return [name, property];
      }),
    );
  }

  listGroups(): CrmPropertyGroup[] {
    return [...this.groups.values()].map((g) => ({ ...g }));
  }

  group(name: string): CrmPropertyGroup | undefined {
    const group = this.groups.get(name);
    return group && { ...group };
  }

  list(): CrmProperty[] {
    return [...this.properties.values()].map(copy);
  }

  get(name: string): CrmProperty | undefined {
    const property = this.properties.get(name);
    return property && copy(property);
  }

  /** Names of the properties declared unique (email is unique too, by HubSpot's own rule, but not declared so). */
  uniqueNames(): string[] {
    return [...this.properties.values()].filter((p) => p.hasUniqueValue).map((p) => p.name);
  }

  /** Creates a group; `conflict` when one of that name exists, `invalid` with HubSpot's reason otherwise. */
  createGroup(input: unknown): { group: CrmPropertyGroup } | { conflict: true } | { invalid: string } {
    const { name, label, displayOrder } = (typeof input === "object" && input !== null ? input : {}) as Record<string, unknown>;
    if (typeof name !== "string" || !/^[a-z][a-z0-9_]*$/.test(name)) return { invalid: `"name" must be lowercase letters, digits and _, got ${JSON.stringify(name)}` };
    if (typeof label !== "string" || label === "") return { invalid: `"label" is required` };
    if (this.groups.has(name)) return { conflict: true };
    const group: CrmPropertyGroup = { name, label, displayOrder: typeof displayOrder === "number" ? displayOrder : -1, archived: false };
    this.groups.set(name, group);
    return { group: { ...group } };
  }

  /** Creates a property; `conflict` when one of that name exists (whatever its type), `invalid` with HubSpot's reason otherwise. */
  create(input: unknown): { property: CrmProperty } | { conflict: true } | { invalid: string } {
    const body = (typeof input === "object" && input !== null ? input : {}) as Record<string, unknown>;
    const { name, label, type, fieldType, groupName, description, options, hasUniqueValue, displayOrder, hidden, formField } = body;
    if (typeof name !== "string" || !/^[a-z][a-z0-9_]*$/.test(name) || name.length > 100) {
      return { invalid: `"name" must be lowercase letters, digits and _ (at most 100), got ${JSON.stringify(name)}` };
    }
    if (this.properties.has(name)) return { conflict: true };
    if (typeof label !== "string" || label === "") return { invalid: `"label" is required` };
    if (typeof type !== "string" || !(PROPERTY_TYPES as readonly string[]).includes(type)) return { invalid: `"type" must be one of ${PROPERTY_TYPES.join(", ")}` };
    if (typeof fieldType !== "string" || !FIELD_TYPES.includes(fieldType)) return { invalid: `"fieldType" must be one of ${FIELD_TYPES.join(", ")}` };
    if (typeof groupName !== "string" || !this.groups.has(groupName)) return { invalid: `property group ${JSON.stringify(groupName)} does not exist` };
    const parsedOptions: CrmPropertyOption[] = [];
    if (options !== undefined) {
      if (!Array.isArray(options)) return { invalid: `"options" must be a list` };
      for (const [i, option] of options.entries()) {
        const { label: optionLabel, value, hidden: optionHidden, displayOrder: order } = (option ?? {}) as Record<string, unknown>;
        if (typeof optionLabel !== "string" || typeof value !== "string") return { invalid: `options[${i}] needs a string label and value` };
        parsedOptions.push({ label: optionLabel, value, displayOrder: typeof order === "number" ? order : i, hidden: optionHidden === true });
      }
    }
    if ((type === "enumeration" || type === "bool") && parsedOptions.length === 0) return { invalid: `a property of type ${type} needs options` };
    if (hasUniqueValue === true) {
      if (type !== "string" && type !== "number") return { invalid: "only string and number properties can require unique values" };
      if (this.uniqueNames().length >= 10) return { invalid: "a portal can have at most 10 unique value properties per object" };
    }
    const at = new Date().toISOString();
    const property: CrmProperty = {
      ...defaults(name, label, type, fieldType, groupName, at),
      description: typeof description === "string" ? description : "",
      options: parsedOptions,
      displayOrder: typeof displayOrder === "number" ? displayOrder : -1,
      hasUniqueValue: hasUniqueValue === true,
      hidden: hidden === true,
      formField: formField === true,
      modificationMetadata: { archivable: true, readOnlyDefinition: false, readOnlyValue: false },
    };
    this.properties.set(name, property);
    return { property: copy(property) };
  }

  /** HubSpot's checks on written values: unknown properties (when rejected), read-only ones, and each type's format. */
  validateValues(values: Record<string, string>, rejectUnknown: boolean): PropertyValueError[] {
    const errors: PropertyValueError[] = [];
    for (const [name, value] of Object.entries(values)) {
      const property = this.properties.get(name);
      if (!property) {
        if (rejectUnknown) errors.push({ name, error: "PROPERTY_DOESNT_EXIST", message: `Property "${name}" does not exist` });
        continue;
      }
      if (property.modificationMetadata.readOnlyValue) {
        errors.push({ name, error: "READ_ONLY_VALUE", message: `"${name}" is a read only property; its value cannot be set.` });
        continue;
      }
      if (value === "") continue; // clears the value
      const problem = formatProblem(property, value);
      if (problem) errors.push({ name, ...problem });
    }
    return errors;
  }
}

function formatProblem(property: CrmProperty, value: string): { error: string; message: string } | undefined {
  if (property.name === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
    return { error: "INVALID_EMAIL", message: `Email address ${value} is invalid` };
  }
  switch (property.type) {
    case "number":
      return /^-?\d+(\.\d+)?$/.test(value) ? undefined : { error: "INVALID_INTEGER", message: `${JSON.stringify(value)} is not a valid number.` };
    case "date":
    case "datetime":
      return /^\d+$/.test(value) || (/^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value)))
        ? undefined
        : { error: "INVALID_DATE", message: `${JSON.stringify(value)} is not a valid ${property.type} (ISO 8601 or epoch milliseconds).` };
    case "bool":
      return value === "true" || value === "false" ? undefined : { error: "INVALID_BOOLEAN", message: `${JSON.stringify(value)} is not true or false.` };
    case "enumeration": {
      const allowed = new Set(property.options.map((o) => o.value));
      // Built-in enumerations with no options listed here (owners, additional emails) take any value.
      if (allowed.size === 0) return undefined;
      const values = property.fieldType === "checkbox" ? value.split(";") : [value];
      const bad = values.find((v) => !allowed.has(v));
      return bad === undefined
        ? undefined
        : { error: "INVALID_OPTION", message: `${JSON.stringify(bad)} was not one of the allowed options: [${[...allowed].join(", ")}]` };
    }
    default:
      return undefined;
  }
}

function defaults(name: string, label: string, type: string, fieldType: string, groupName: string, at: string): Omit<CrmProperty, "options" | "displayOrder" | "modificationMetadata"> {
  return {
    name,
    label,
    type,
    fieldType,
    groupName,
    description: "",
    hasUniqueValue: false,
    hidden: false,
    formField: false,
    calculated: false,
    externalOptions: false,
    archived: false,
    createdAt: at,
    updatedAt: at,
  };
}

function copy(property: CrmProperty): CrmProperty {
  return { ...property, options: property.options.map((o) => ({ ...o })), modificationMetadata: { ...property.modificationMetadata } };
}
