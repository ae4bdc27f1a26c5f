import { ensureDatabase, migrate } from "../migrate";

// `npm run db:migrate`: create the database if needed and apply pending migrations. Reads DATABASE_URL only.
async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error("DATABASE_URL is missing: set it to e.g. postgresql://postgres@127.0.0.1:5432/nudge");
    process.exit(2);
  }
  if (await ensureDatabase(url)) console.log(`created database ${new URL(url).pathname.slice(1)}`);
  const { applied, alreadyApplied } = await migrate(url);
  console.log(`migrations: ${applied.length} applied (${applied.join(", ") || "none"}), ${alreadyApplied.length} already applied`);
}

main().catch((error: unknown) => {
  console.error((error as Error).message);
  process.exit(1);
});
