import { CrmPortalError, NotAcceptedError, type CrmContactRef, type CrmGateway, type CrmReadiness } from "@nudge/core";
import { HubSpotApi } from "./hubspot-api";
import { HubSpotContactBatches } from "./hubspot-contact-batches";
import { NUDGE_CONTACT_ID } from "./hubspot-properties";
import { checkNudgeProperties, setupNudgeProperties, type SetupReport } from "./hubspot-provisioning";
import type { HubSpotConfig } from "./provider-config";

/** How long the calls of concurrent jobs are collected into one batch request, by default. */
export const DEFAULT_BATCH_WINDOW_MS = 20;
/**
 * After a call met a portal-wide refusal, how long checkReady keeps reporting it. A call can be refused for a scope
 * the readiness check does not exercise (contacts read or write vs properties read): without this, a worker would
 * resume at once and spend one job per check on the same refusal; with it, one job tries again each minute.
 */
const PORTAL_REFUSAL_HOLD_MS = 60_000;

/**
 * HubSpot as Nudge's CRM. Every write sets absolute values and creates by unique keys, so a retry, after any failure
 * (a timeout or reset included), writes the same thing again: never a second contact.
 *
 * Finding the contact, cheapest and surest first:
 *  1. by the stored HubSpot id (batch update); a 404 (deleted, merged away) falls through;
 *  2. by email: one batch upsert with idProperty=email finds or creates the contact and writes the properties
 *     (not the search API: it is rate-limited to a few requests a second and lags new records);
 *  3. by phone, for a contact without email: a search; found, an update by its id;
 *  4. else created by a batch upsert on nudge_contact_id, unique in the portal: two workers whose searches both
 *     missed (the search lags) still make one contact.
 * `nudge_contact_id` is written every time. When Nudge links a contact (every path but 1), it also writes what it
 * knows of it (name, email, phone); once linked, it writes only its own properties, leaving the CRM's edits alone.
 *
 * Calls from concurrent jobs are batched (up to 100 inputs, collected for `batchWindowMs`, longer while the shared
 * limiter makes them wait), so that a burst of reminders costs one HubSpot request per hundred contacts. Reads of the
 * lifecycle stage are batched the same way, apart from the writes (a batch read).
 */
export class HubSpotCrm implements CrmGateway {
  private readonly api: HubSpotApi;
  private readonly batches: HubSpotContactBatches;
  private portalRefusal: { error: CrmPortalError; until: number } | undefined;

  constructor(config: HubSpotConfig) {
    this.api = new HubSpotApi(config);
    this.batches = new HubSpotContactBatches(this.api, config.batchWindowMs ?? DEFAULT_BATCH_WINDOW_MS);
  }

  upsertContact(contact: CrmContactRef, properties: Record<string, string>): Promise<string> {
    return this.heedingPortalRefusal(() => this.findAndWrite(contact, { ...properties, [NUDGE_CONTACT_ID]: String(contact.contactId) }));
  }

  /**
   * The contact's `lifecyclestage` as the portal holds it now (sales set it in HubSpot), or undefined when it has none
   * or HubSpot has no such contact (deleted since: the next upsertContact finds or creates it anew).
   */
  lifecycleStage(crmId: string): Promise<string | undefined> {
    return this.heedingPortalRefusal(async () => {
      const outcome = await this.batches.read(crmId);
      if ("notFound" in outcome) return undefined;
      // HubSpot answers a property without a value as null, or leaves it out; a cleared one may read "".
      return outcome.properties.lifecyclestage || undefined;
    });
  }

  /**
   * Ready when the token works, the app may read the schema, and every Nudge property exists as Nudge needs it: one
   * request. Never throws: a portal that cannot be asked right now is not ready, for that reason.
   */
  async checkReady(): Promise<CrmReadiness> {
    try {
      const readiness = await checkNudgeProperties(this.api);
      if (readiness.ready && this.portalRefusal && this.portalRefusal.until > Date.now()) {
        return { ready: false, reason: this.portalRefusal.error.message };
      }
      return readiness;
    } catch (err) {
      const reason = err instanceof CrmPortalError ? err.message : `HubSpot could not be checked: ${(err as Error).message}`;
      return { ready: false, reason };
    }
  }

  /** Creates Nudge's property group and properties where missing (`nudge hubspot setup`); see SetupReport. */
  setup(): Promise<SetupReport> {
    return setupNudgeProperties(this.api);
  }

  /**
   * A portal-wide refusal (token, scope) met by any call keeps checkReady reporting it for a while, so that the
   * worker pauses its intake instead of spending every job on the same refusal.
   */
  private async heedingPortalRefusal<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof CrmPortalError) this.portalRefusal = { error: err, until: Date.now() + PORTAL_REFUSAL_HOLD_MS };
      throw err;
    }
  }

  private async findAndWrite(contact: CrmContactRef, own: Record<string, string>): Promise<string> {
    if (contact.crmId) {
      const outcome = await this.batches.update(contact.crmId, own);
      if ("id" in outcome) return outcome.id;
    }
    const linking = { ...own, ...identity(contact) };
    if (contact.email) {
      try {
        return await this.batches.upsert("email", contact.email, linking);
      } catch (err) {
        // 409: another contact holds this nudge_contact_id (Nudge created it from the phone number before the email
        // was known). That contact is this one: write to it, leaving the email where HubSpot has it.
        if (!(err instanceof NotAcceptedError && err.status === 409)) throw err;
        const { email: _email, ...withoutEmail } = linking;
        return this.batches.upsert(NUDGE_CONTACT_ID, String(contact.contactId), withoutEmail);
      }
    }
    if (contact.phone) {
      const found = await this.batches.findByPhone(contact.phone, contact.contactId);
      if (found) {
        const outcome = await this.batches.update(found, linking);
        if ("id" in outcome) return outcome.id;
      }
    }
    return this.batches.upsert(NUDGE_CONTACT_ID, String(contact.contactId), linking);
  }
}

/** What Nudge knows of a contact, in HubSpot's built-in properties. */
function identity(contact: CrmContactRef): Record<string, string> {
  const [firstname, ...rest] = contact.name.trim().split(/\s+/).filter(Boolean);
  return {
    ...(firstname && { firstname }),
    ...(rest.length > 0 && { lastname: rest.join(" ") }),
    ...(contact.email && { email: contact.email }),
    ...(contact.phone && { phone: contact.phone }),
  };
}
