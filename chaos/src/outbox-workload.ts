import { randomBytes } from "node:crypto";
import { migrateSignupService, signUp, SOURCE } from "@nudge/example-signup-service";
import { Client, Pool } from "pg";

/**
 * The outbox workload: another service (the example signup service, @nudge/example-signup-service) asks Nudge for
 * messages through the transactional outbox in a database of its own, and the relay, one more process of the fleet,
 * carries them into Nudge's database and onto the one-off queue. Each signup writes a user and its welcome email
 * (`Welcome, <name>` to the user's address) in one transaction; a share of them fail after both writes and roll
 * back, taking the email with them. The judge (outbox-checks.ts) reads the simulator's record: every committed user
 * owes one welcome email, a rolled-back one none.
 */

/** The signups' names and addresses: apart from the reminder workload's "Chaos Person <n>" and chaos<n>@example.com. */
export const signupName = (i: number) => `Outbox Signup ${i}`;
export const signupEmail = (i: number) => `outbox-signup${i}@example.com`;
/** The welcome email's subject, as the example service writes it. */
export const WELCOME_SUBJECT = /^Welcome, (Outbox Signup \d+)$/;
/** One signup in this many is rolled back after its writes (`failAfterWrites`). */
const ROLLBACK_EVERY = 10;
/** The service's outbox is relayed within a second or two in a calm: signups stop this long before the last start. */
export const SIGNUP_TAIL_SECONDS = 30;

export interface CallerDatabase {
  name: string;
  url: string;
  /** The signup service's pool (a fault may cut its connections: errors on idle clients are expected). */
  pool: Pool;
}

/**
 * The example service's own database, a scratch one beside the run's (the same cluster, so that `pg-restart` hits
 * it too), migrated with the service's schema and @nudge/client's outbox. Dropped with `dropCallerDatabase`.
 */
export async function createCallerDatabase(adminUrl: string): Promise<CallerDatabase> {
  const name = `nudge_chaos_signup_${randomBytes(4).toString("hex")}`;
  await adminQuery(adminUrl, `CREATE DATABASE "${name}"`);
  const url = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
  const pool = new Pool({ connectionString: url, max: 2 });
  // pg-restart and pg-terminate-backends end idle connections too (the pool reports those), and a checked-out
  // client's between two statements of a signup: pg emits that on the client, which has no listener while checked
  // out, and an unhandled 'error' would end the suite. The signup's next statement fails and the signup is retried.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  await migrateSignupService(pool);
  return { name, url, pool };
}

export async function dropCallerDatabase(adminUrl: string, caller: CallerDatabase): Promise<void> {
  await caller.pool.end().catch(() => undefined);
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${caller.name}" WITH (FORCE)`);
}

/** The relay's RELAY_SOURCES for this caller. */
export const relaySources = (caller: CallerDatabase) => JSON.stringify([{ name: SOURCE, url: caller.url }]);

/** What the suite knows of each signup it made: the judge holds every committed user owed one welcome email. */
export interface SignupOutcomes {
  /** Signups asked for (committed + rolled back + any the run ended before it could settle). */
  attempted: number;
  /** email -> { name, userId } of every user whose transaction committed. */
  committed: Map<string, { name: string; userId: number }>;
  /** Emails of signups that rolled back after their writes. */
  rolledBack: Map<string, string>;
  /** Signups whose call failed for another reason than their own rollback: their outcome was settled by a lookup. */
  ambiguous: number;
}

/**
 * Signs `count` users up at an even pace from `from` to `until` (ms since the epoch), one at a time, as the
 * service's users would. A signup that fails for any other reason than its own rollback (a fault cut the
 * connection, Postgres restarting) has an unknown commit outcome: the users table says whether it landed; if not it
 * is tried again a second later (the retry writes a new user and a new email key; a duplicate address is refused
 * by the table's unique email). `stop()` (the run is over) ends it early.
 */
export function signUpOverTime(
  pool: Pool,
  count: number,
  from: number,
  until: number,
  log: (line: string) => void,
): { done: Promise<SignupOutcomes>; stop: () => void } {
  const outcomes: SignupOutcomes = { attempted: 0, committed: new Map(), rolledBack: new Map(), ambiguous: 0 };
  let stopped = false;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const done = (async () => {
    let failures = 0;
    for (let i = 1; i <= count && !stopped; i++) {
      const dueAt = until <= from ? from : from + ((i - 1) * (until - from)) / count;
      if (Date.now() < dueAt) await sleep(dueAt - Date.now());
      const email = signupEmail(i);
      const name = signupName(i);
      const rollBack = i % ROLLBACK_EVERY === 0;
      outcomes.attempted++;
      let uncertain = false;
      while (!stopped) {
        try {
          const { userId } = await signUp(pool, { email, name }, { failAfterWrites: rollBack });
          outcomes.committed.set(email, { name, userId });
          break;
        } catch (error) {
          const reason = (error as Error).message;
          if (rollBack && /aborted after its writes/.test(reason)) {
            outcomes.rolledBack.set(email, name);
            break;
          }
          // Did the commit land before the connection went?
          if (!uncertain) outcomes.ambiguous++;
          uncertain = true;
          const found = await pool.query<{ id: string }>("SELECT id FROM users WHERE email = $1", [email]).catch(() => undefined);
          if (found?.rows[0]) {
            outcomes.committed.set(email, { name, userId: Number(found.rows[0].id) });
            break;
          }
          if (failures++ % 10 === 0) log(`chaos: a signup failed (its commit did not land; tried again in a second): ${reason}`);
          await sleep(1000);
        }
      }
    }
    if (outcomes.committed.size + outcomes.rolledBack.size < count) {
      log(`chaos: stopped signing up with ${outcomes.committed.size + outcomes.rolledBack.size} of ${count} signups settled`);
    }
    return outcomes;
  })();
  return {
    done,
    stop: () => {
      stopped = true;
    },
  };
}

/** Outbox rows the relay has not carried into Nudge's database yet (the drain waits for none). */
export async function unrelayedRows(caller: CallerDatabase): Promise<number> {
  const { rows } = await caller.pool.query<{ n: string }>("SELECT count(*) AS n FROM nudge_outbox WHERE relayed_at IS NULL");
  return Number(rows[0]!.n);
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
