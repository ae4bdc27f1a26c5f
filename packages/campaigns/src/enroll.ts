import type { Db } from "@nudge/db";
import { CampaignInputError } from "./campaign-input-error";
import { databaseNowIn, type EnrollmentRecord, findEnrollment, findLatestEnrollment, findVersion, insertEnrollment, lockCampaignForRead } from "./campaign-store";
import { nextSendTime } from "./send-window";

const HOUR = 3_600_000;

export interface EnrollRequest {
  contactId: number;
  campaignId: string;
  /** Start another round when the lead was in the campaign before and that round has ended. */
  reenroll?: boolean;
}

export interface EnrollResult {
  enrollment: EnrollmentRecord;
  /** False when the request found the enrollment it asks for (a retry, or the lead was enrolled already). */
  created: boolean;
}

/**
 * Enrolls a lead in the latest version of a campaign. The first step is due its delay after now (the database's
 * clock), moved into its send window in the contact's time zone (the campaign's timezoneFallback, then UTC, when
 * that zone is invalid).
 *
 * Idempotent: without `reenroll`, a lead already in the campaign (in any round, whatever its state) gets that
 * enrollment back. With `reenroll`, a new round starts only when the latest one has ended (completed or stopped); a
 * round still active is returned as it is, so a retried request never starts two rounds.
 */
export async function enroll(db: Db, request: EnrollRequest): Promise<EnrollResult> {
  const { contactId, campaignId } = request;
  return db.$transaction(async (tx) => {
    const contact = await tx.contact.findUnique({ where: { id: contactId }, select: { timezone: true } });
    if (!contact) throw new CampaignInputError("contactId", `contact ${contactId} does not exist; create the contact first`);
    if (!(await lockCampaignForRead(tx, campaignId))) {
      throw new CampaignInputError("campaignId", `campaign ${JSON.stringify(campaignId)} is not loaded; load its file first (nudge campaigns load)`);
    }
    const version = await findVersion(tx, campaignId);
    if (!version) throw new CampaignInputError("campaignId", `campaign ${JSON.stringify(campaignId)} has no version loaded`);

    const latest = await findLatestEnrollment(tx, contactId, campaignId);
    if (latest && (!request.reenroll || latest.state === "active")) return { enrollment: latest, created: false };

    const now = await databaseNowIn(tx);
    const first = version.steps[0]!;
    const due = nextSendTime(new Date(now.getTime() + first.delayHours * HOUR), first.sendWindow ?? undefined, contact.timezone, version.timezoneFallback);
    const round = (latest?.round ?? 0) + 1;
    const id = await insertEnrollment(tx, { contactId, campaignId, version: version.version, round, nextDueAt: due, at: now });
    if (id !== undefined) return { enrollment: (await findEnrollment(tx, id))!, created: true };
    // A concurrent request inserted the same round (or another active one) first: that one is the answer.
    return { enrollment: (await findLatestEnrollment(tx, contactId, campaignId))!, created: false };
  });
}
