import type { Db } from "@nudge/db";
import type { CampaignDefinition } from "./campaign-definition";
import type { SendWindow } from "./send-window";

/**
 * The campaigns' database access, on the Prisma client that @nudge/db makes (this package never imports Prisma
 * itself). Row locks and ON CONFLICT, which Prisma's query API cannot express, are raw SQL through the same client.
 */

/** A transaction's client: the Db without what only the outer client may do. */
export type Tx = Omit<Db, "$connect" | "$disconnect" | "$on" | "$transaction" | "$extends">;

export type EnrollmentState = "active" | "completed" | "stopped";

export interface StepRecord {
  id: string;
  position: number;
  channel: "sms" | "email";
  subject: string | null;
  template: string;
  delayHours: number;
  sendWindow: SendWindow | null;
}

export interface VersionRecord {
  campaignId: string;
  version: number;
  name: string;
  checksum: string;
  stalenessHours: number;
  timezoneFallback: string | null;
  steps: StepRecord[];
}

export interface EnrollmentRecord {
  id: number;
  contactId: number;
  campaignId: string;
  version: number;
  round: number;
  /** Index of the next step to send in the version's steps (= steps.length once completed). */
  position: number;
  doneStepIds: string[];
  nextDueAt: Date | null;
  lastStepAt: Date | null;
  state: EnrollmentState;
  stopReason: string | null;
  enrolledAt: Date;
  updatedAt: Date;
}

export async function databaseNowIn(tx: Tx): Promise<Date> {
  const [row] = await tx.$queryRaw<{ now: Date }[]>`SELECT nudge_now() AS now`;
  return row!.now;
}

/**
 * Creates the campaign row if needed and locks it for the rest of the transaction: loads of one campaign run one at
 * a time, and an enrollment (which takes the lock shared) never sees a version half-written or replaced under it.
 */
export async function lockCampaignForWrite(tx: Tx, id: string, name: string): Promise<void> {
  await tx.$executeRaw`INSERT INTO campaigns (id, name) VALUES (${id}, ${name}) ON CONFLICT (id) DO NOTHING`;
  await tx.$queryRaw`SELECT id FROM campaigns WHERE id = ${id} FOR UPDATE`;
}

/** Locks the campaign shared (see lockCampaignForWrite); false when it does not exist. */
export async function lockCampaignForRead(tx: Tx, id: string): Promise<boolean> {
  const rows = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM campaigns WHERE id = ${id} FOR SHARE`;
  return rows.length > 0;
}

export async function findVersion(tx: Tx, campaignId: string, version?: number): Promise<VersionRecord | undefined> {
  const row = await tx.campaignVersion.findFirst({
    where: version === undefined ? { campaignId } : { campaignId, version },
    orderBy: { version: "desc" },
    include: { steps: { orderBy: { position: "asc" } } },
  });
  if (!row) return undefined;
  const definition = row.definition as unknown as CampaignDefinition;
  return {
    campaignId: row.campaignId,
    version: row.version,
    name: definition.name,
    checksum: row.checksum,
    stalenessHours: row.stalenessHours,
    timezoneFallback: row.timezoneFallback,
    steps: row.steps.map((s) => ({
      id: s.stepId,
      position: s.position,
      channel: s.channel as "sms" | "email",
      subject: s.subject,
      template: s.template,
      delayHours: s.delayHours,
      sendWindow: (s.sendWindow as unknown as SendWindow | null) ?? null,
    })),
  };
}

export async function versionHasEnrollments(tx: Tx, campaignId: string, version: number): Promise<boolean> {
  return (await tx.enrollment.count({ where: { campaignId, version }, take: 1 })) > 0;
}

/** Writes a version and its steps (after deleting an unused earlier text of the same version when `replace`). */
export async function writeVersion(tx: Tx, definition: CampaignDefinition, checksum: string, replace: boolean): Promise<void> {
  const key = { campaignId: definition.id, version: definition.version };
  const data = {
    definition: definition as object,
    checksum,
    stalenessHours: definition.stalenessHours,
    timezoneFallback: definition.timezoneFallback ?? null,
  };
  if (replace) {
    await tx.campaignStep.deleteMany({ where: key });
    await tx.$executeRaw`UPDATE campaign_versions SET definition = ${JSON.stringify(definition)}::jsonb, checksum = ${checksum},
      staleness_hours = ${definition.stalenessHours}, timezone_fallback = ${definition.timezoneFallback ?? null}, loaded_at = nudge_now()
      WHERE campaign_id = ${definition.id} AND version = ${definition.version}`;
  } else {
    await tx.campaignVersion.create({ data: { ...key, ...data } });
  }
  await tx.campaignStep.createMany({
    data: definition.steps.map((step, position) => ({
      ...key,
      stepId: step.id,
      position,
      channel: step.channel,
      subject: step.subject ?? null,
      template: step.template,
      delayHours: step.delayHours,
      ...(step.sendWindow ? { sendWindow: step.sendWindow as object } : {}),
    })),
  });
  // The campaign's name is its newest version's.
  await tx.$executeRaw`UPDATE campaigns SET name = ${definition.name}, updated_at = nudge_now()
    WHERE id = ${definition.id} AND NOT EXISTS (
      SELECT 1 FROM campaign_versions v WHERE v.campaign_id = ${definition.id} AND v.version > ${definition.version})`;
}

const enrollmentSelect = {
  id: true,
  contactId: true,
  campaignId: true,
  version: true,
  enrollmentRound: true,
  position: true,
  doneStepIds: true,
  nextDueAt: true,
  lastStepAt: true,
  state: true,
  stopReason: true,
  enrolledAt: true,
  updatedAt: true,
} as const;

type EnrollmentRow = { enrollmentRound: number } & Omit<EnrollmentRecord, "round">;
const toRecord = ({ enrollmentRound, ...rest }: EnrollmentRow): EnrollmentRecord => ({ ...rest, round: enrollmentRound });

export async function findEnrollment(tx: Tx, id: number): Promise<EnrollmentRecord | undefined> {
  const row = await tx.enrollment.findUnique({ where: { id }, select: enrollmentSelect });
  return row ? toRecord(row) : undefined;
}

/** The lead's latest round in the campaign. */
export async function findLatestEnrollment(tx: Tx, contactId: number, campaignId: string): Promise<EnrollmentRecord | undefined> {
  const row = await tx.enrollment.findFirst({ where: { contactId, campaignId }, orderBy: { enrollmentRound: "desc" }, select: enrollmentSelect });
  return row ? toRecord(row) : undefined;
}

/**
 * Inserts round `round` unless it (or another active round) exists already: ON CONFLICT DO NOTHING waits for a
 * racing insert to commit and then does nothing, so two enrolments of the same lead at once make one row.
 */
export async function insertEnrollment(
  tx: Tx,
  row: { contactId: number; campaignId: string; version: number; round: number; nextDueAt: Date; at: Date },
): Promise<number | undefined> {
  const inserted = await tx.$queryRaw<{ id: number }[]>`
    INSERT INTO enrollments (contact_id, campaign_id, version, enrollment_round, next_due_at, enrolled_at, updated_at)
    VALUES (${row.contactId}, ${row.campaignId}, ${row.version}, ${row.round}, ${row.nextDueAt}, ${row.at}, ${row.at})
    ON CONFLICT DO NOTHING RETURNING id`;
  return inserted[0]?.id;
}

/** A page of the campaign's active enrollments on another version than `version`, locked against concurrent advances. */
export async function lockEnrollmentsOffVersion(
  tx: Tx,
  campaignId: string,
  version: number,
  limit: number,
): Promise<(EnrollmentRecord & { timezone: string })[]> {
  const ids = await tx.$queryRaw<{ id: number }[]>`
    SELECT id FROM enrollments WHERE campaign_id = ${campaignId} AND version <> ${version} AND state = 'active'
    ORDER BY id LIMIT ${limit} FOR UPDATE`;
  if (ids.length === 0) return [];
  const rows = await tx.enrollment.findMany({
    where: { id: { in: ids.map((r) => r.id) } },
    orderBy: { id: "asc" },
    select: { ...enrollmentSelect, contact: { select: { timezone: true } } },
  });
  return rows.map(({ contact, ...row }) => ({ ...toRecord(row), timezone: contact.timezone }));
}

export async function moveEnrollment(
  tx: Tx,
  id: number,
  to: { version: number; position: number; nextDueAt: Date | null; completed: boolean },
): Promise<void> {
  await tx.$executeRaw`
    UPDATE enrollments SET version = ${to.version}, position = ${to.position}, next_due_at = ${to.nextDueAt},
      state = ${to.completed ? "completed" : "active"}::"EnrollmentState", enqueued = false, updated_at = nudge_now()
    WHERE id = ${id}`;
}
