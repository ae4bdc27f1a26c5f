/**
 * A request that names something that is not there (a contact, a campaign, a version) or a value that cannot be
 * used. `field` is the input at fault, so that the CLI and the API can point at it.
 */
export class CampaignInputError extends Error {
  override readonly name = "CampaignInputError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}
