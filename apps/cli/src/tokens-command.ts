import type { Command } from "commander";
import { loadMigrateEnv } from "./env";

/**
 * `nudge tokens create|list|revoke`: bearer tokens of the HTTP API (apps/api, /v1). A token speaks for one source
 * (the service's name, the namespace of its idempotency keys) with scopes send, read and admin. Only the token's
 * SHA-256 is stored, so `create` prints the token once and nothing can show it again; a revoked token fails on its
 * next request to any API process (tokens are looked up per request, never cached).
 */
export function registerTokensCommand(program: Command): void {
  const tokens = program.command("tokens").description("the HTTP API's bearer tokens: create (printed once), list, revoke");

  tokens
    .command("create")
    .description("create a token for a service and print it (once: only its hash is kept)")
    .requiredOption("--source <name>", "the service the token speaks for, a slug such as booking-service (its idempotency keys' namespace)")
    .requiredOption("--scopes <list>", "comma-separated: send (POST requests), read (GET states and histories), admin (everything, every source's reads)")
    .option("--name <text>", "a note to recognise the token by in `nudge tokens list`")
    .action(async (opts: { source: string; scopes: string; name?: string }) => {
      const { createApiToken, parseScopes } = await import("@nudge/api");
      const scopes = parseScopes(opts.scopes);
      await withDb(async (db) => {
        const created = await createApiToken(db, { source: opts.source, scopes, ...(opts.name !== undefined && { name: opts.name }) });
        console.log(`created token ${created.id} for source ${created.source} (scopes ${created.scopes.join(",")}${created.name ? `, "${created.name}"` : ""}).`);
        console.log("It is shown this once; store it now (e.g. in your secret manager):");
        console.log(created.token);
      });
    });

  tokens
    .command("list")
    .description("list tokens: id, source, scopes, name, created, revoked (never the token itself)")
    .action(async () => {
      const { listApiTokens } = await import("@nudge/api");
      await withDb(async (db) => {
        const rows = await listApiTokens(db);
        if (rows.length === 0) {
          console.log("no tokens; create one with: nudge tokens create --source <service> --scopes send,read");
          return;
        }
        for (const t of rows) {
          const state = t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : "active";
          console.log(`${t.id}\t${t.source}\t${t.scopes.join(",")}\t${state}\tcreated ${t.createdAt.toISOString()}${t.name ? `\t${t.name}` : ""}`);
        }
      });
    });

  tokens
    .command("revoke")
    .description("revoke a token: its next request is refused (401)")
    .argument("<id>", "the token's id, as `nudge tokens list` shows it")
    .action(async (id: string) => {
      if (!/^[1-9][0-9]{0,9}$/.test(id)) throw new Error(`<id>: expected a token id (a whole number, see nudge tokens list), got ${JSON.stringify(id)}`);
      const { revokeApiToken } = await import("@nudge/api");
      await withDb(async (db) => {
        const revoked = await revokeApiToken(db, Number(id));
        if (!revoked) throw new Error(`no token ${id}: see nudge tokens list`);
        console.log(`revoked token ${revoked.id} (source ${revoked.source}) at ${revoked.revokedAt!.toISOString()}`);
      });
    });
}

async function withDb(work: (db: import("@nudge/db").Db) => Promise<void>): Promise<void> {
  const { DATABASE_URL } = loadMigrateEnv();
  const { checkPostgres, assertMigrated, createDb } = await import("@nudge/db");
  await checkPostgres(DATABASE_URL);
  await assertMigrated(DATABASE_URL);
  const db = createDb(DATABASE_URL, { poolSize: 1 });
  try {
    await work(db);
  } finally {
    await db.$disconnect();
  }
}
