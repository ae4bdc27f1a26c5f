export interface DefinitionIssue {
  /** Where in the file, e.g. `steps[2].delayHours`. */
  path: string;
  message: string;
}

/** A campaign file that does not validate. Its message names every field at fault, one per line. */
export class CampaignDefinitionError extends Error {
  override readonly name = "CampaignDefinitionError";
  constructor(
    readonly source: string,
    readonly issues: readonly DefinitionIssue[],
  ) {
    super(`${source} is not a valid campaign:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}`);
  }
}
