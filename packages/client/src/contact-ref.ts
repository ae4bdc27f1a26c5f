import { z } from "zod";

const E164 = /^\+[1-9][0-9]{1,14}$/;
/** Area/Location names as the IANA database spells them; an offset such as "+02:00" is not a zone (it has no DST). */
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

function isIanaZone(zone: string): boolean {
  if (!ZONE_NAME.test(zone)) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** An id the calling service gave something (a contact, an appointment): any text, 1-200 characters. */
export const externalIdSchema = z.string()
  .min(1, { error: "an id may not be empty" })
  .max(200, { error: "an id is at most 200 characters" });

/**
 * A contact as the calling service knows it. `id` is the service's own id for the person: Nudge keeps one contact per
 * source and id, and updates its name, phone, email and zone from the latest request that carries them.
 */
export const contactRefSchema = z
  .strictObject({
    id: externalIdSchema,
    name: z.string()
      .min(1, { error: "a name may not be empty" })
      .max(200, { error: "a name is at most 200 characters" }),
    phone: z.string().regex(E164, { error: 'a phone number is in E.164 form, e.g. "+15550100001"' }).optional(),
    email: z.email({ error: "not an email address" }).max(254, { error: "an email address is at most 254 characters" }).optional(),
    timezone: z.string()
      .refine(isIanaZone, { error: 'a time zone is an IANA zone name, e.g. "Europe/Paris" or "UTC"' })
      .optional(),
  })
  .refine((contact) => contact.phone !== undefined || contact.email !== undefined, {
    error: "a contact needs a phone or an email (or both)",
  });

interface ContactFields {
  /** The calling service's own id for the contact (1-200 characters). */
  id: string;
  name: string;
  /** IANA zone, e.g. "Europe/Paris"; Nudge's send windows use it. */
  timezone?: string;
}

/**
 * The contact's type spells out "a phone or an email" (the schema can only check it at run time), so that a contact
 * with neither fails to compile.
 */
export type ContactRef = ContactFields &
  (
    | { /** E.164, e.g. "+15550100001". */ phone: string; email?: string }
    | { phone?: string; /** An email address. */ email: string }
  );
