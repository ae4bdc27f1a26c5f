import { ConfigError } from "@nudge/core";
import { z } from "zod";

/**
 * Parses the environment once, at start-up, and names every problem at the same time so that one fix-and-restart
 * is enough. Nothing below an app's entry point reads process.env: apps hand plain objects down.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const blankAsMissing = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const result = schema.safeParse(blankAsMissing);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join(".") || "(environment)";
    const received = issue.code === "invalid_type" && blankAsMissing[name] === undefined ? "is missing" : "is invalid";
    return `${name} ${received}: ${issue.message}`;
  });
  throw new ConfigError(problems);
}
