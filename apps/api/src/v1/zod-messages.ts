import type { z } from "zod";

/** For a parse: a field that is absent is "required", rather than zod's "expected string, received undefined". */
export const absentIsRequired: z.core.$ZodErrorMap = (issue) => (issue.code === "invalid_type" && issue.input === undefined ? "required" : undefined);

/**
 * Zod's issues as one message of `field: problem` parts, each field written from `root` (`body.contact.phone`), an
 * unknown field named as such: the client can point at what to fix. (@nudge/client words its own errors the same way.)
 */
export function describeIssues(root: string, error: z.ZodError): string {
  return error.issues
    .flatMap((issue) => {
      const at = [root, ...issue.path.map(String)].join(".");
      if (issue.code === "unrecognized_keys") return issue.keys.map((key) => `${at}.${key}: not a field of this request; check its spelling`);
      return [`${at}: ${issue.message}`];
    })
    .join("; ");
}
