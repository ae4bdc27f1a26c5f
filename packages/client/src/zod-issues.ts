import type { z } from "zod";

/** For a parse: a field that is absent is "required", rather than zod's "expected string, received undefined". */
export const absentIsRequired: z.core.$ZodErrorMap = (issue) =>
  issue.code === "invalid_type" && issue.input === undefined ? "required" : undefined;


/**
 * Zod's issues as `field: message` lines, the field written from the root it was parsed under (`payload`), so that
 * an error names `payload.contact.phone` rather than a bare path array.
 */
export function describeIssues(root: string, error: z.ZodError): string[] {
  return error.issues.flatMap((issue) => {
    const at = [root, ...issue.path.map(String)].join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => `${at}.${key}: not a field of this request; check its spelling`);
    }
    return [`${at}: ${issue.message}`];
  });
}
