// Drip campaigns: definitions, versions and enrollments (see README "Drip campaigns").
export { CAMPAIGN_CHANNELS, campaignDefinitionSchema, validateCampaign, parseCampaign, definitionChecksum, formatPath } from "./campaign-definition";
export type { CampaignChannel, CampaignDefinition, CampaignStepDefinition } from "./campaign-definition";
export { CampaignDefinitionError } from "./campaign-definition-error";
export type { DefinitionIssue } from "./campaign-definition-error";
export { CampaignInputError } from "./campaign-input-error";
export { nextSendTime, resolveTimeZone, isValidTimeZone, emptyWindowReason, WEEKDAYS } from "./send-window";
export type { SendWindow, Weekday } from "./send-window";
export { render, contactVars, firstNameOf, parseTemplate, unknownVariables, TEMPLATE_VARIABLES, TemplateRenderError } from "./template";
export type { TemplateVariable, TemplateVars } from "./template";
export { mapPosition, nextUndoneStep } from "./step-mapping";
export { loadCampaignFiles, loadCampaignDefinition, campaignFilesIn } from "./load-campaigns";
export type { LoadOutcome, LoadReport } from "./load-campaigns";
export { enroll } from "./enroll";
export type { EnrollRequest, EnrollResult } from "./enroll";
export { migrateEnrollments } from "./migrate-enrollments";
export type { MigrationReport } from "./migrate-enrollments";
export type { EnrollmentRecord, EnrollmentState, StepRecord, VersionRecord } from "./campaign-store";
