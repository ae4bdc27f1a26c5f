import { CHANNELS } from "@nudge/core";
import {
  PropertyCreateFieldTypeEnum as FieldType,
  PropertyCreateTypeEnum as Type,
  type PropertyCreate,
  type PropertyGroupCreate,
} from "@hubspot/api-client/lib/codegen/crm/properties";

/** HubSpot's object type for contacts in the properties API. */
export const CONTACTS = "contacts";

/** Nudge's properties live in a group of their own, so that a portal admin sees at once what Nudge writes. */
export const NUDGE_PROPERTY_GROUP: PropertyGroupCreate = { name: "nudge", label: "Nudge reminders", displayOrder: -1 };

/**
 * Nudge's own contact id. Unique in the portal (hasUniqueValue), which makes creating a contact idempotent: a batch
 * upsert on it finds the contact a concurrent worker has just created instead of creating a second one, where a
 * search would not (HubSpot's search index lags new records).
 */
export const NUDGE_CONTACT_ID = "nudge_contact_id";

const CHANNEL_LABELS: Record<(typeof CHANNELS)[number], string> = { sms: "SMS", voice: "Voice call", email: "Email" };

/**
 * Every contact property Nudge writes, in one list: `nudge hubspot setup` creates them, `checkReady` requires them.
 * The names are a contract with every portal already set up: never rename one; add a new property instead.
 */
export const NUDGE_PROPERTIES: readonly PropertyCreate[] = [
  {
    name: NUDGE_CONTACT_ID,
    label: "Nudge contact ID",
    description: "The contact's id in Nudge. Unique: Nudge finds or creates the contact by it.",
    groupName: NUDGE_PROPERTY_GROUP.name,
    type: Type.Number,
    fieldType: FieldType.Number,
    hasUniqueValue: true,
    formField: false,
  },
  {
    name: "nudge_next_appointment_at",
    label: "Next appointment (Nudge)",
    description: "The start of the appointment Nudge last reminded this contact of.",
    groupName: NUDGE_PROPERTY_GROUP.name,
    type: Type.Datetime,
    fieldType: FieldType.Date,
    formField: false,
  },
  {
    name: "nudge_last_reminder_step",
    label: "Last reminder step (Nudge)",
    description: "The step of the reminder plan Nudge last sent for the next appointment (1 is the earliest).",
    groupName: NUDGE_PROPERTY_GROUP.name,
    type: Type.Number,
    fieldType: FieldType.Number,
    formField: false,
  },
  {
    name: "nudge_last_reminder_channel",
    label: "Last reminder channel (Nudge)",
    description: "How Nudge last reminded this contact.",
    groupName: NUDGE_PROPERTY_GROUP.name,
    type: Type.Enumeration,
    fieldType: FieldType.Select,
    options: CHANNELS.map((value, i) => ({ label: CHANNEL_LABELS[value], value, displayOrder: i, hidden: false })),
    formField: false,
  },
  // Text, not options: campaigns and their steps are defined in Nudge and change without a portal setup.
  {
    name: "nudge_campaign",
    label: "Drip campaign (Nudge)",
    description: "The drip campaign Nudge last sent this contact a step of.",
    groupName: NUDGE_PROPERTY_GROUP.name,
    type: Type.String,
    fieldType: FieldType.Text,
    formField: false,
  },
  {
    name: "nudge_campaign_step",
    label: "Drip campaign step (Nudge)",
    description: "The step's id in that campaign.",
    groupName: NUDGE_PROPERTY_GROUP.name,
    type: Type.String,
    fieldType: FieldType.Text,
    formField: false,
  },
  {
    name: "nudge_campaign_step_at",
    label: "Drip campaign step due (Nudge)",
    description: "When that step was due (not when it was written).",
    groupName: NUDGE_PROPERTY_GROUP.name,
    type: Type.Datetime,
    fieldType: FieldType.Date,
    formField: false,
  },
];

/** What the portal says about a property, as far as Nudge cares. */
export interface ExistingProperty {
  type: string;
  hasUniqueValue?: boolean;
  options?: Array<{ value: string }>;
}

/**
 * Why an existing property cannot hold what Nudge writes (another type, not unique where Nudge relies on it,
 * options missing), or undefined when it can. Setup reports this and never changes the property: it may hold data.
 */
export function propertyMismatch(existing: ExistingProperty, wanted: PropertyCreate): string | undefined {
  if (existing.type !== wanted.type) return `is of type ${existing.type}, Nudge writes ${wanted.type}`;
  if (wanted.hasUniqueValue && !existing.hasUniqueValue) return "does not require unique values, which Nudge relies on to create each contact once";
  const have = new Set((existing.options ?? []).map((o) => o.value));
  const missing = (wanted.options ?? []).map((o) => o.value).filter((v) => !have.has(v));
  if (missing.length > 0) return `lacks the option${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`;
  return undefined;
}
