import type { Db } from "@nudge/db";
import { CampaignInputError } from "./campaign-input-error";
import { findVersion, lockCampaignForRead, lockEnrollmentsOffVersion, moveEnrollment, type Tx, type VersionRecord } from "./campaign-store";
import { nextSendTime } from "./send-window";
import { mapPosition } from "./step-mapping";

const HOUR = 3_600_000;

export interface MigrationReport {
  campaignId: string;
  toVersion: number;
  /** Active enrollments moved to the version, still active. */
  moved: number;
  /** Active enrollments moved to the version with no step of it left for them: completed. */
  completed: number;
}

/**
 * Moves every active enrollment of a campaign on another version to `toVersion` (default: the latest loaded), by step identity (see
 * step-mapping.ts for the rule). Completed and stopped enrollments stay where they ended. When the next step is the
 * one the enrollment was already waiting for, its due time stays; otherwise it is the new step's delay after the
 * enrollment's last advance (its enrolment, before the first), moved into the step's send window.
 *
 * Runs in pages, one transaction each, with the page's rows locked, so that a step being advanced at the same time
 * is either seen as done or waits; the versions involved become immutable (leads are on them).
 */
export async function migrateEnrollments(
  db: Db,
  campaignId: string,
  toVersionOrLatest?: number,
  options: { pageSize?: number } = {},
): Promise<MigrationReport> {
  const pageSize = options.pageSize ?? 500;
  const target = await db.$transaction(async (tx) => {
    if (!(await lockCampaignForRead(tx, campaignId))) throw new CampaignInputError("campaignId", `campaign ${JSON.stringify(campaignId)} is not loaded`);
    const version = await findVersion(tx, campaignId, toVersionOrLatest);
    if (!version) throw new CampaignInputError("toVersion", `campaign ${JSON.stringify(campaignId)} has no version ${toVersionOrLatest}; load its file first`);
    return version;
  });
  const toVersion = target.version;
  const toSteps = target.steps.map((s) => s.id);
  const versions = new Map<number, VersionRecord>();
  const report: MigrationReport = { campaignId, toVersion, moved: 0, completed: 0 };

  for (;;) {
    const done = await db.$transaction(async (tx) => {
      const page = await lockEnrollmentsOffVersion(tx, campaignId, toVersion, pageSize);
      for (const e of page) {
        const from = await versionOf(tx, versions, campaignId, e.version);
        const position = mapPosition({ fromSteps: from.steps.map((s) => s.id), position: e.position, doneStepIds: e.doneStepIds, toSteps });
        const step = target.steps[position];
        if (!step) {
          await moveEnrollment(tx, e.id, { version: toVersion, position: toSteps.length, nextDueAt: null, completed: true });
          report.completed++;
          continue;
        }
        const waitingFor = from.steps[e.position]?.id;
        const nextDueAt =
          waitingFor === step.id && e.nextDueAt
            ? e.nextDueAt
            : nextSendTime(
                new Date((e.lastStepAt ?? e.enrolledAt).getTime() + step.delayHours * HOUR),
                step.sendWindow ?? undefined,
                e.timezone,
                target.timezoneFallback,
              );
        await moveEnrollment(tx, e.id, { version: toVersion, position, nextDueAt, completed: false });
        report.moved++;
      }
      return page.length < pageSize;
    });
    if (done) return report;
  }
}

async function versionOf(tx: Tx, cache: Map<number, VersionRecord>, campaignId: string, version: number): Promise<VersionRecord> {
  let found = cache.get(version);
  if (!found) {
    found = (await findVersion(tx, campaignId, version))!;
    cache.set(version, found);
  }
  return found;
}
