import { InvalidPayloadError } from "@nudge/core";
import type { z } from "zod";
import { JOBS, type JobKind, type PayloadOf } from "./catalog";

/** Checks a payload against its contract; the error names every offending field. */
export function parsePayload<K extends JobKind>(kind: K, data: unknown): PayloadOf<K> {
  const result = (JOBS[kind].schema as z.ZodType).safeParse(data);
  if (result.success) return result.data as PayloadOf<K>;
  throw new InvalidPayloadError(
    `${kind} payload`,
    result.error.issues.map((i) => `${i.path.join(".") || "(payload)"}: ${i.message}`),
  );
}
