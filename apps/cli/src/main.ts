import { ConfigError } from "@nudge/core";
import { createProgram } from "./program";

/**
 * Entry point of the `nudge` bin. A failure prints one line, prefixed with the subcommand, and no stack trace: the
 * errors that reach here name their cause and fix (an unreachable server, a bad variable, a missing migration).
 * Exit codes: 2 for configuration to fix, 1 for anything else.
 */
const program = createProgram();
program.parseAsync(process.argv).catch((error: unknown) => {
  const command = program.args[0] ? `nudge ${program.args[0]}` : "nudge";
  console.error(`${command}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(error instanceof ConfigError ? 2 : 1);
});
