/** Postgres BIGINT's largest value: subject_version is a BIGINT. */
const INT8_MAX = 9_223_372_036_854_775_807n;

/** A subject version as the caller gives it: a non-negative safe integer, or a bigint up to BIGINT's range. */
export type SubjectVersion = number | bigint;

/**
 * The version as a bigint, or the reason it cannot be one. A number beyond 2^53 has already lost digits by the time
 * it reaches us, so two different versions could compare equal: such a version must be passed as a bigint.
 * Strings are accepted only from the database side (`pg` returns BIGINT as text).
 */
export function readSubjectVersion(value: unknown, fromDatabase = false): bigint | string {
  let version: bigint;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      return `a version is an integer no larger than Number.MAX_SAFE_INTEGER (pass a bigint beyond that), got ${value}`;
    }
    version = BigInt(value);
  } else if (typeof value === "bigint") {
    version = value;
  } else if (fromDatabase && typeof value === "string" && /^-?[0-9]+$/.test(value)) {
    version = BigInt(value);
  } else {
    return `a version is a non-negative integer (a number or a bigint), got ${describe(value)}`;
  }
  if (version < 0n) return `a version may not be negative, got ${version}`;
  if (version > INT8_MAX) return `a version fits in a Postgres BIGINT (at most ${INT8_MAX}), got ${version}`;
  return version;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  return typeof value;
}
