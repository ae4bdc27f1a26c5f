import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { Db } from "@nudge/db";
import { type CampaignDefinition, definitionChecksum, parseCampaign } from "./campaign-definition";
import { findVersion, lockCampaignForWrite, versionHasEnrollments, writeVersion } from "./campaign-store";

/**
 * What loading one file did: `created` a new version; `unchanged` (that version was loaded before with the same
 * definition); `replaced` (loaded before with another definition, but no lead was enrolled in it yet, so it could
 * still change); `refused` (invalid, or a version in use edited in place), with the reason and nothing written.
 */
export type LoadOutcome = "created" | "unchanged" | "replaced" | "refused";
export interface LoadReport {
  path: string;
  outcome: LoadOutcome;
  campaignId?: string;
  version?: number;
  reason?: string;
}

const CAMPAIGN_FILE = /\.(ya?ml|json)$/;

/** The campaign files (.yaml, .yml, .json) in a folder, in name order. */
export async function campaignFilesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile() && CAMPAIGN_FILE.test(e.name)).map((e) => path.join(dir, e.name)).sort();
}

/**
 * Validates each file, then writes its campaign, version and steps in one transaction. Files are independent: one
 * refused file does not stop the others, and its report says why.
 */
export async function loadCampaignFiles(db: Db, paths: readonly string[]): Promise<LoadReport[]> {
  const reports: LoadReport[] = [];
  for (const file of paths) {
    let definition: CampaignDefinition;
    try {
      definition = parseCampaign(await readFile(file, "utf8"), file);
    } catch (error) {
      reports.push({ path: file, outcome: "refused", reason: (error as Error).message });
      continue;
    }
    const { outcome, reason } = await loadCampaignDefinition(db, definition);
    reports.push({ path: file, outcome, campaignId: definition.id, version: definition.version, ...(reason ? { reason } : {}) });
  }
  return reports;
}

/** Loads one validated definition (see loadCampaignFiles). */
export async function loadCampaignDefinition(db: Db, definition: CampaignDefinition): Promise<{ outcome: LoadOutcome; reason?: string }> {
  const checksum = definitionChecksum(definition);
  return db.$transaction(async (tx) => {
    await lockCampaignForWrite(tx, definition.id, definition.name);
    const existing = await findVersion(tx, definition.id, definition.version);
    if (existing?.checksum === checksum) return { outcome: "unchanged" as const };
    if (existing && (await versionHasEnrollments(tx, definition.id, definition.version))) {
      return {
        outcome: "refused" as const,
        reason:
          `campaign ${definition.id} version ${definition.version} is already loaded with another definition and leads are enrolled in it, ` +
          `so it cannot change; give the edit version ${definition.version + 1} (then \`nudge campaigns migrate ${definition.id}\` moves enrollments to it)`,
      };
    }
    await writeVersion(tx, definition, checksum, existing !== undefined);
    return { outcome: existing ? ("replaced" as const) : ("created" as const) };
  });
}
