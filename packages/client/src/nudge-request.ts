import { idempotencyKeySchema } from "./idempotency-key";
import { InvalidNudgeRequestError } from "./invalid-request-error";
import { isRequestKind, isVersionedKind, type PayloadOf, REQUEST_KINDS, type RequestKind, requestSchemas, subjectOf, type VersionedKind } from "./request-kinds";
import { sourceNameSchema } from "./source-name";
import { readSubjectVersion } from "./subject-version";
import { absentIsRequired, describeIssues } from "./zod-issues";

/** One request to Nudge, checked: what an outbox row means. */
export type NudgeRequest = {
  [K in RequestKind]: {
    source: string;
    /** The caller's idempotency key, unique within its source. */
    key: string;
    kind: K;
    payload: PayloadOf<K>;
    /** `appointment:<appointmentId>` for the versioned kinds, else null. */
    subject: K extends VersionedKind ? string : null;
    version: K extends VersionedKind ? bigint : null;
  };
}[RequestKind];

export interface UncheckedRequest {
  source: unknown;
  kind: unknown;
  key: unknown;
  payload: unknown;
  /** Undefined or null when absent. */
  version: unknown;
  /** Where the version came from, to name it in an error: `options.version` or `subject_version`. */
  versionField: string;
  /** The relay reads BIGINT as text; the client never accepts a version as a string. */
  versionFromDatabase?: boolean;
}

/**
 * Checks a request whole (key, kind, payload and version), so that one error lists every field at fault, and returns
 * it typed. The client calls it before writing a row and the relay after reading one: both sides judge a request by
 * the same code.
 */
export function checkRequest(request: UncheckedRequest): NudgeRequest {
  const issues: string[] = [];
  const source = sourceNameSchema.safeParse(request.source);
  if (!source.success) issues.push(...describeIssues("source", source.error));
  const key = idempotencyKeySchema.safeParse(request.key);
  if (!key.success) issues.push(...describeIssues("key", key.error));

  const kindName = typeof request.kind === "string" ? request.kind : String(request.kind);
  if (!isRequestKind(request.kind)) {
    issues.push(`kind: ${JSON.stringify(request.kind) ?? kindName} is not a request kind; use one of ${REQUEST_KINDS.join(", ")}`);
    throw new InvalidNudgeRequestError(kindName, request.key, issues);
  }
  const kind = request.kind;
  // Parsed without the error map first: zod compiles an object schema into a fast parser only for a parse without
  // per-call options, which halves the relay's cost of checking a batch. The map only words the messages, so a
  // payload that fails is parsed again with it, for the reasons the caller reads.
  let payload = requestSchemas[kind].safeParse(request.payload);
  if (!payload.success) payload = requestSchemas[kind].safeParse(request.payload, { error: absentIsRequired });
  if (typeof request.payload !== "object" || request.payload === null || Array.isArray(request.payload)) {
    issues.push(`payload: a ${kind} payload is an object, got ${request.payload === null ? "null" : Array.isArray(request.payload) ? "an array" : typeof request.payload}`);
  } else if (!payload.success) {
    issues.push(...describeIssues("payload", payload.error));
  }

  let version: bigint | null = null;
  const versionGiven = request.version !== undefined && request.version !== null;
  if (isVersionedKind(kind)) {
    if (!versionGiven) {
      const example = request.versionFromDatabase ? "" : ", e.g. { version: 3 }";
      issues.push(`${request.versionField}: ${kind} changes a versioned subject and needs its version${example}`);
    } else {
      const read = readSubjectVersion(request.version, request.versionFromDatabase);
      if (typeof read === "string") issues.push(`${request.versionField}: ${read}`);
      else version = read;
    }
  } else if (versionGiven) {
    issues.push(`${request.versionField}: ${kind} has no versioned subject; leave the version out`);
  }

  if (issues.length > 0 || !source.success || !key.success || !payload.success) {
    throw new InvalidNudgeRequestError(kind, request.key, issues);
  }
  const data = payload.data as PayloadOf<typeof kind>;
  return { source: source.data, key: key.data, kind, payload: data, subject: subjectOf(kind, data), version } as NudgeRequest;
}
