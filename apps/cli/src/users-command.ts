import { createInterface } from "node:readline";
import type { Command } from "commander";
import { loadMigrateEnv } from "./env";

/**
 * `nudge users add <name> --role viewer|operator`: a dashboard user, kept in the database (dashboard_users) so that a
 * running dashboard takes them at the next login, with no restart and no password in an env var or a file. The
 * password comes from standard input (its first line: `printf '%s\n' "$PW" | nudge users add ...`), or from a prompt
 * that does not echo when standard input is a terminal. Adding an existing name sets its role and password and ends
 * its sessions.
 */
export function registerUsersCommand(program: Command): void {
  const users = program.command("users").description("the ops dashboard's users");
  users
    .command("add")
    .description("add a dashboard user, or set an existing one's role and password (the password from stdin or a prompt)")
    .argument("<name>", "the login name (letters, digits, . _ @ -)")
    .requiredOption("--role <role>", "viewer (sees everything, changes nothing) or operator (may act on queues and decide unknown sends)")
    .action(async (name: string, opts: { role: string }) => {
      if (opts.role !== "viewer" && opts.role !== "operator") throw new Error(`--role: expected viewer or operator, got ${JSON.stringify(opts.role)}`);
      if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) throw new Error(`<name>: ${JSON.stringify(name)} is not a login name (1-64 of A-Z a-z 0-9 . _ @ -)`);
      const { DATABASE_URL } = loadMigrateEnv();
      const { hashPassword, MIN_PASSWORD_LENGTH } = await import("@nudge/dashboard");
      const password = process.stdin.isTTY ? await prompt(`password for ${name}: `) : await firstLine();
      if (password.length < MIN_PASSWORD_LENGTH) throw new Error(`the password must have at least ${MIN_PASSWORD_LENGTH} characters`);
      const { checkPostgres, assertMigrated, createDb, DashboardStore } = await import("@nudge/db");
      await checkPostgres(DATABASE_URL);
      await assertMigrated(DATABASE_URL);
      const db = createDb(DATABASE_URL, { poolSize: 1 });
      try {
        const outcome = await new DashboardStore(db).putUser(name, opts.role, await hashPassword(password));
        console.log(`${outcome} dashboard user ${name} (${opts.role})`);
      } finally {
        await db.$disconnect();
      }
    });
}

async function firstLine(): Promise<string> {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    lines.close();
    return line;
  }
  throw new Error("no password on standard input: pipe it in, or run in a terminal to be asked");
}

function prompt(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
    // Echo nothing of what is typed.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s === question) process.stdout.write(s);
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stdout.write("\n");
      resolve(answer);
    });
  });
}
