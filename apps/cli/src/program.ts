import { Command } from "commander";
import { loadHubSpotEnv, loadMigrateEnv, loadServerUrls } from "./env";
import { setupSummary } from "./hubspot-setup-summary";
import { registerTokensCommand } from "./tokens-command";
import { registerUsersCommand } from "./users-command";

/**
 * The `nudge` command. Each subcommand is a thin call into the app or package that owns the work; later
 * capabilities add theirs here. Commander rather than hand-parsed argv: subcommands, `--help` for each, and
 * unknown commands or options refused with a message, which a growing command set needs and a parser gets right once.
 *
 * Each action imports its app when it runs: `nudge tick` then loads neither the worker's vendor SDKs nor anything
 * else it does not use, and `nudge --help` answers at once.
 */
export function createProgram(): Command {
  const program = new Command("nudge")
    .description("Nudge: reminders sent exactly once. Reads its configuration from the environment (see README).")
    .showHelpAfterError("(run `nudge --help` for the commands)")
    .configureHelp({ sortSubcommands: false });

  program
    .command("migrate")
    .description("create the database named in DATABASE_URL if needed and apply pending migrations, then exit")
    .action(async () => {
      const { checkPostgres, ensureDatabase, migrate } = await import("@nudge/db");
      const { DATABASE_URL } = loadMigrateEnv();
      await checkPostgres(DATABASE_URL);
      if (await ensureDatabase(DATABASE_URL)) console.log(`created database ${new URL(DATABASE_URL).pathname.slice(1)}`);
      const { applied, alreadyApplied } = await migrate(DATABASE_URL);
      console.log(`migrations: ${applied.length} applied (${applied.join(", ") || "none"}), ${alreadyApplied.length} already applied`);
    });

  program
    .command("tick")
    .description("one scheduler pass: enqueue every reminder now due, then exit (for a system cron)")
    .action(async () => (await import("@nudge/scheduler")).runScheduler({ once: true }));

  program
    .command("scheduler")
    .description("run the scheduler until SIGTERM: a pass every SCHEDULER_INTERVAL_MS")
    .action(async () => (await import("@nudge/scheduler")).runScheduler({ once: false }));

  program
    .command("worker")
    .description("run a worker until SIGTERM: CRM update, DB advance, claim, send, record")
    .action(async () => {
      // runWorker opens connections that retry forever and does not check the servers itself, so the CLI does it
      // first. Invalid URLs are left to the worker, which names every bad variable at once.
      const urls = tryLoadServerUrls();
      if (urls) await (await import("./check-servers")).checkServers(urls);
      await (await import("@nudge/worker")).runWorker();
    });

  program
    .command("api")
    .description("run the webhooks app and the HTTP API (/v1) until SIGTERM: Twilio status callbacks and STOP replies, SendGrid events, other services' requests (API_PORT)")
    // runApi checks PostgreSQL itself before it opens its pool; Redis it does not need to start or to accept requests
    // (their jobs wait for it).
    .action(async () => {
      await (await import("@nudge/api")).runApi();
    });

  program
    .command("reconcile")
    .description("resolve every unknown delivery from the providers' records; long-running, or one pass with --once (cron)")
    .option("--once", "one pass over what is unresolved now, then exit")
    // runReconciler checks PostgreSQL itself before it opens its pool, and needs no Redis.
    .action(async (opts: { once?: boolean }) => {
      await (await import("@nudge/reconciler")).runReconciler({ once: opts.once === true });
    });

  program
    .command("relay")
    .description("run the relay until SIGTERM: callers' outbox rows (RELAY_SOURCES) into Nudge's database, then one-off jobs into Redis")
    // runRelay checks Nudge's database itself before it opens its pool; Redis and the sources may be down at start
    // (it retries them), so the CLI checks nothing on its behalf.
    .action(async () => {
      await (await import("@nudge/relay")).runRelay();
    });

  program
    .command("dashboard")
    .description("run the ops dashboard until SIGTERM: Bull Board behind a login, the ledger, timelines, sends waiting for a decision (DASHBOARD_PORT; add users with nudge users add)")
    // runDashboard checks PostgreSQL and that a user exists before it listens.
    .action(async () => {
      const { url, demoLogin } = await (await import("@nudge/dashboard")).runDashboard();
      if (demoLogin) console.log(`dashboard demo login: ${demoLogin.name} / ${demoLogin.password} at ${url}`);
    });

  const hubspot = program.command("hubspot").description("the HubSpot portal Nudge keeps up to date");
  hubspot
    .command("setup")
    .description("create Nudge's contact property group and properties in HubSpot where missing (a deployment step; safe to run again)")
    .action(async () => {
      const env = loadHubSpotEnv();
      const { createCrmGateway } = await import("@nudge/providers");
      const crm = createCrmGateway({ accessToken: env.HUBSPOT_ACCESS_TOKEN, baseUrl: env.HUBSPOT_BASE_URL, timeoutMs: env.PROVIDER_TIMEOUT_MS });
      const summary = setupSummary(await crm.setup());
      for (const line of summary.lines) console.log(line);
      // A property of the wrong shape was left alone: the portal is not ready, and a deployment script must see it.
      if (!summary.ok) process.exitCode = 1;
    });

  const campaigns = program.command("campaigns").description("drip campaigns: load their files, enroll leads, move enrollments to a new version");
  campaigns
    .command("load")
    .description("validate campaign files (default: every .yaml/.yml/.json in campaigns/) and load each as a version; a version leads are enrolled in never changes")
    .argument("[files...]", "campaign files to load")
    .action(async (files: string[]) => {
      const { DATABASE_URL } = loadMigrateEnv();
      const { createDb } = await import("@nudge/db");
      const { campaignFilesIn, loadCampaignFiles } = await import("@nudge/campaigns");
      const paths = files.length ? files : await campaignFilesIn("campaigns");
      if (!paths.length) throw new Error("no campaign files in campaigns/; name the files to load");
      const db = createDb(DATABASE_URL, { poolSize: 2 });
      try {
        for (const r of await loadCampaignFiles(db, paths)) {
          if (r.outcome === "refused") {
            console.error(`refused ${r.path}: ${r.reason}`);
            process.exitCode = 1;
          } else console.log(`${r.outcome} ${r.campaignId} version ${r.version} (${r.path})`);
        }
      } finally {
        await db.$disconnect();
      }
    });
  campaigns
    .command("enroll")
    .description("enroll contacts in the latest version of a campaign (once per campaign; --reenroll starts a new round after the last one ended)")
    .argument("<campaign>", "the campaign's id")
    .argument("<contactIds...>", "contact ids")
    .option("--reenroll", "start a new round for contacts whose last round has ended")
    .action(async (campaignId: string, contactIds: string[], opts: { reenroll?: boolean }) => {
      const { DATABASE_URL } = loadMigrateEnv();
      const { createDb } = await import("@nudge/db");
      const { enroll } = await import("@nudge/campaigns");
      const db = createDb(DATABASE_URL, { poolSize: 2 });
      try {
        for (const raw of contactIds) {
          const contactId = Number(raw);
          if (!Number.isInteger(contactId) || contactId <= 0) throw new Error(`contactIds: ${JSON.stringify(raw)} is not a contact id`);
          const { enrollment, created } = await enroll(db, { contactId, campaignId, reenroll: opts.reenroll === true });
          const next = enrollment.nextDueAt?.toISOString() ?? `never (${enrollment.state})`;
          console.log(`${created ? "enrolled" : "already enrolled"}: contact ${contactId} in ${campaignId} version ${enrollment.version} round ${enrollment.round}, next step due ${next}`);
        }
      } finally {
        await db.$disconnect();
      }
    });
  campaigns
    .command("migrate")
    .description("move a campaign's active enrollments to its latest (or --to) version by step identity: no step sent twice, removed steps never")
    .argument("<campaign>", "the campaign's id")
    .option("--to <version>", "the version to move to (default: the latest loaded)")
    .action(async (campaignId: string, opts: { to?: string }) => {
      const { DATABASE_URL } = loadMigrateEnv();
      const toVersion = opts.to === undefined ? undefined : Number(opts.to);
      if (toVersion !== undefined && (!Number.isInteger(toVersion) || toVersion <= 0)) throw new Error(`--to: ${JSON.stringify(opts.to)} is not a version number`);
      const { createDb } = await import("@nudge/db");
      const { migrateEnrollments } = await import("@nudge/campaigns");
      const db = createDb(DATABASE_URL, { poolSize: 2 });
      try {
        const r = await migrateEnrollments(db, campaignId, toVersion);
        console.log(`${campaignId}: ${r.moved} enrollments moved to version ${r.toVersion}, ${r.completed} completed (nothing left for them in it)`);
      } finally {
        await db.$disconnect();
      }
    });

  registerUsersCommand(program);
  registerTokensCommand(program);
  return program;
}

function tryLoadServerUrls(): ReturnType<typeof loadServerUrls> | undefined {
  try {
    return loadServerUrls();
  } catch {
    return undefined;
  }
}
