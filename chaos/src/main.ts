import { appendFileSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { createDb, ensureDatabase, migrate } from "@nudge/db";
import { createCrmGateway } from "@nudge/providers";
import { simulatorProviderEnv, SIMULATOR_TWILIO_AUTH_TOKEN, startSimulator } from "@nudge/simulator";
import { freePort, startRedisServer } from "@nudge/testing";
import { Client } from "pg";
import { checkRun } from "./checks";
import { CHAOS_CAMPAIGN, CHAOS_CAMPAIGN_STEPS, DRIP_TAIL_SECONDS, enrollOverTime, seedDripCampaign } from "./drip-workload";
import { FaultInjector, findPostgresCluster } from "./faults";
import { forgeWebhooks } from "./forged-webhooks";
import { faultSchedule, parseOptions } from "./options";
import { createCallerDatabase, dropCallerDatabase, relaySources, SIGNUP_TAIL_SECONDS, signUpOverTime, unrelayedRows } from "./outbox-workload";
import { ProcessFleet } from "./process-fleet";
import { type BusinessChanges, CHAOS_PLAN, FIRST_LEAD_SECONDS, STEPS, changeSomeAppointments, seedWorkload } from "./workload";

/**
 * `npm run chaos`: the fleet as separate OS processes (schedulers, workers, the relay) against a Redis of its own, a
 * database of its own and the provider simulator, a reminder workload that escalates through every plan step, a drip
 * campaign that a share of the same contacts are enrolled in over the run, users that another service (the example
 * signup service, with a database of its own) signs up over the run, each with a welcome email asked for through
 * its transactional outbox, and faults at evenly spread moments in storms
 * separated by calms. At the end the run is judged from the outside (checks.ts): what the providers accepted is
 * what was sent, and every due message that was not sent needs a reason the suite checks itself. The last line is
 * one JSON object; the exit code is non-zero on a violation.
 */
const ADMIN_URL = process.env.TEST_DATABASE_URL ?? process.env.PG_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const ROOT = path.resolve(__dirname, "../..");
const BOOT_SECONDS = 15;
/** The workers' send lease; the paused-worker fault keeps a worker stopped until its lease has expired. */
const SEND_LEASE_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.log(line);

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = Date.now();
  const appointments = Math.ceil(options.messages / STEPS);
  const leads = Math.min(options.leads, appointments);
  log(
    `chaos: ${appointments} appointments x ${STEPS} steps (~${appointments * STEPS} messages), ` +
      `${leads} of their contacts enrolled in a ${CHAOS_CAMPAIGN_STEPS.length}-step drip campaign, ` +
      `${options.signups} signups through the example service's outbox, ${options.faults} faults, ` +
      `${options.workers} workers, ${options.schedulers} schedulers, starts spread over ${options.windowSeconds} s`,
  );

  const redis = await startRedisServer();
  const databaseName = `nudge_chaos_${randomBytes(4).toString("hex")}`;
  const adminUrl = new URL(ADMIN_URL);
  const databaseUrl = Object.assign(new URL(ADMIN_URL), { pathname: `/${databaseName}` }).toString();
  await ensureDatabase(databaseUrl);
  await migrate(databaseUrl);
  // What the simulator swallows (a status callback or event post that failed, and why), counted for the summary.
  const simTroubles = new Map<string, number>();
  const sim = await startSimulator({
    port: 0,
    twilioAuthToken: SIMULATOR_TWILIO_AUTH_TOKEN,
    log: (entry) => {
      const what = `${String(entry.msg)}: ${String(entry.err ?? entry.status ?? "")}`.replace(/\d+/g, "N");
      simTroubles.set(what, (simTroubles.get(what) ?? 0) + 1);
    },
  });
  // The deployment step (`nudge hubspot setup`): without Nudge's properties no worker takes a job.
  const hubspotEnv = simulatorProviderEnv(sim.url);
  await createCrmGateway({ accessToken: hubspotEnv.HUBSPOT_ACCESS_TOKEN!, baseUrl: sim.url, timeoutMs: 5_000 }).setup();
  // The webhooks app receives every status callback and event (signed by the simulator, as the providers sign).
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  sim.configureSendGridEvents({ url: `${apiUrl}/webhooks/sendgrid/events` });
  sim.configureTwilioInbound({ url: `${apiUrl}/webhooks/twilio/inbound` });
  const firstStart = new Date(Date.now() + (BOOT_SECONDS + FIRST_LEAD_SECONDS) * 1000);
  await seedWorkload(databaseUrl, appointments, firstStart, options.windowSeconds);
  const lastStart = firstStart.getTime() + options.windowSeconds * 1000 + 10_000; // + reschedules
  // The suite's own connection for the campaign's load and the enrollments (the product's calls, as a CRM makes them).
  const db = createDb(databaseUrl, { poolSize: 2 });
  const leadIds = await seedDripCampaign(db, databaseUrl, leads);
  // The example signup service's own database, on the same cluster (pg-restart restarts it too).
  const caller = await createCallerDatabase(ADMIN_URL);

  const logDir = path.join(ROOT, ".nudge", "chaos");
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const fleet = new ProcessFleet(
    {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: "chaos",
      ...simulatorProviderEnv(sim.url),
      TWILIO_STATUS_CALLBACK_URL: `${apiUrl}/webhooks/twilio/status`,
      API_PORT: String(apiPort),
      API_HOST: "127.0.0.1",
      WEBHOOK_PUBLIC_URL: apiUrl,
      SENDGRID_WEBHOOK_PUBLIC_KEY: sim.sendgridEventPublicKey,
      // The reconciler: a list is trusted 6 s after a delivery became unknown (the 2 s provider timeout plus up to
      // 3 s of injected list lag, plus a margin); SendGrid's events arrive within a second here.
      SENDGRID_EVENTS: "on",
      // The account has the Email Activity API: an unknown email is looked up by its delivery id. (Inferring "never
      // accepted" from the Event Webhook's silence made duplicates in a full run whose webhook posts were lost.)
      SENDGRID_EMAIL_ACTIVITY: "on",
      RECONCILE_INTERVAL_MS: "1000",
      // After a 5xx, a lookup believes "not in the list" only 5 s later: the injected list lag is at most 3 s.
      LOOKUP_SETTLE_MS: "5000",
      RECONCILE_SETTLE_MS: "6000",
      RECONCILE_EMAIL_SETTLE_MS: "6000",
      REMINDER_PLAN: CHAOS_PLAN,
      PROVIDER_TIMEOUT_MS: "2000",
      // A claim is abandoned only once its lease has run out by the database's clock: longer than a provider call.
      SEND_LEASE_MS: String(SEND_LEASE_MS),
      WORKER_CONCURRENCY: "20",
      WORKER_LOCK_MS: "5000",
      WORKER_STALLED_INTERVAL_MS: "2000",
      JOB_BACKOFF_MS: "300",
      SCHEDULER_INTERVAL_MS: "1000",
      SCHEDULER_SWEEP_MS: "15000",
      // Longer than a lock (5 s) plus a provider timeout (2 s) plus a skewed clock (5 s).
      SCHEDULER_ABANDONED_AFTER_MS: "20000",
      SHUTDOWN_GRACE_MS: "5000",
      CRM_READY_CHECK_MS: "1000",
      // The simulated portal enforces no rate limit here (e2e/test/hubspot.test.ts covers the limiter): the suite
      // measures faults, not HubSpot's budget, which at the lowest tier's 100 per 10 s would pace the whole run.
      HUBSPOT_REQUESTS_PER_10S: "100000",
      LOG_LEVEL: "warn",
    },
    logDir,
  );
  fleet.add("scheduler", options.schedulers);
  fleet.add("worker", options.workers);
  fleet.add("api", 1);
  fleet.add("reconciler", 1);
  // The relay reads only these two; the other apps ignore them. LISTEN/NOTIFY wakes it at once; the poll is the
  // safety net for a notification lost with a cut connection.
  fleet.add("relay", 1, { RELAY_SOURCES: relaySources(caller), RELAY_POLL_MS: "1000" });

  const postgresCluster = findPostgresCluster(ADMIN_URL);
  const faults = new FaultInjector({
    fleet,
    sim,
    restartRedis: () => redis.restart(),
    adminUrl: adminUrl.toString(),
    databaseNames: [databaseName, caller.name],
    postgresCluster,
    sendLeaseMs: SEND_LEASE_MS,
    forgeWebhooks: () => forgeWebhooks(apiUrl, databaseUrl),
    log,
  });
  if (postgresCluster) log(`chaos: Postgres restarts restart the local cluster ${postgresCluster.version}/${postgresCluster.name}`);
  else log("chaos: Postgres restarts left out (needs a local cluster and root)");

  // Faults from the first due step to the last start: storms of evenly spread faults, each followed by a calm.
  const faultStart = firstStart.getTime() - FIRST_LEAD_SECONDS * 1000;
  const schedule = faultSchedule(options, faultStart, lastStart);
  const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);
  log(`chaos: ${options.storms} storm(s), calm ${schedule.calms.map(([a, b]) => `${clock(a)}-${clock(b)}`).join(", ")}`);
  const changes: BusinessChanges = { cancelled: [], rescheduled: [] };
  const changeAt = [faultStart + (lastStart - faultStart) / 3, faultStart + (2 * (lastStart - faultStart)) / 3];
  // Leads are enrolled from the first fault until their last step can still go out before the last start.
  const enrolling = enrollOverTime(db, leadIds, faultStart, Math.max(faultStart, lastStart - DRIP_TAIL_SECONDS * 1000), log);
  // Users sign up at an even pace from the first fault until their welcome email can still go out before the last start.
  const signingUp = signUpOverTime(caller.pool, options.signups, faultStart, Math.max(faultStart, lastStart - SIGNUP_TAIL_SECONDS * 1000), log);
  const faultTimes = schedule.at;
  const nextFault = () => faultTimes[0] ?? Number.POSITIVE_INFINITY;
  let nextProgress = Date.now();
  const unexpectedExits: string[] = [];

  while (Date.now() < lastStart && faults.total < options.faults) {
    const now = Date.now();
    if (now >= nextFault()) {
      faultTimes.shift();
      await faults.injectNext().catch((error: unknown) => log(`chaos: fault failed to inject: ${(error as Error).message}`));
    }
    if (changeAt[0] !== undefined && now >= changeAt[0]) {
      changeAt.shift();
      try {
        const c = await changeSomeAppointments(databaseUrl, Math.ceil(appointments * 0.02));
        changes.cancelled.push(...c.cancelled);
        changes.rescheduled.push(...c.rescheduled);
      } catch (error) {
        // One transaction: nothing changed (a fault cut the connection), so nothing needs excusing either.
        log(`chaos: business changes failed: ${(error as Error).message}`);
      }
    }
    if (now >= nextProgress) {
      nextProgress += 5000;
      unexpectedExits.push(...fleet.ensureRunning().filter((e) => !e.includes("SIGKILL")));
      log(await progress(databaseUrl, started, sim.records().length, faults.total, fleet));
    }
    await sleep(Math.max(0, Math.min(nextFault(), nextProgress) - Date.now()));
  }
  while (Date.now() < lastStart) {
    await sleep(1000);
    if (Date.now() >= nextProgress) {
      nextProgress += 5000;
      log(await progress(databaseUrl, started, sim.records().length, faults.total, fleet));
    }
  }

  // Calm: no more faults (a paused worker is resumed first); wait for every due message to settle (a killed
  // worker's job is taken over after its lock).
  await faults.finish();
  sim.clearFaults();
  faults.log.simulatorFaultsCleared();
  // Normally all enrolled long ago; if faults held it back, it finishes now (its pace asks for every lead by now),
  // within a minute: a lead it could not enroll by then is reported, not waited for.
  const enrollDeadline = setTimeout(() => {
    enrolling.stop();
    signingUp.stop();
  }, 60_000);
  const [dripLeads, signups] = await Promise.all([enrolling.done, signingUp.done]);
  clearTimeout(enrollDeadline);
  log("chaos: faults stopped; waiting for every delivery to settle");
  const drainDeadline = Date.now() + 180_000;
  while (Date.now() < drainDeadline) {
    fleet.ensureRunning();
    const open = await Promise.all([openWork(databaseUrl), unrelayedRows(caller)])
      .then(([nudge, outbox]) => nudge + outbox)
      .catch(() => Number.POSITIVE_INFINITY);
    if (open === 0) break;
    log(await progress(databaseUrl, started, sim.records().length, faults.total, fleet));
    await sleep(2000);
  }
  await fleet.stop();
  const records = sim.records();
  const verdict = await checkRun(databaseUrl, {
    records,
    faultWindows: faults.log.windows(records, Date.now()),
    changes,
    sendLeaseMs: SEND_LEASE_MS,
    dripLeads,
    signups,
    callerDatabaseUrl: caller.url,
  });
  const { drips, outbox } = verdict;
  await db.$disconnect();
  const callbacks = sim.callbackStats();
  await sim.close();
  await redis.stop();
  await dropDatabase(databaseName);
  await dropCallerDatabase(ADMIN_URL, caller);

  log(
    `chaos: states ${JSON.stringify(verdict.states)}; business changes ` +
      `${JSON.stringify({ cancelled: changes.cancelled.length, rescheduled: changes.rescheduled.length })}; webhooks posted ${JSON.stringify(callbacks)}`,
  );
  log(`chaos: settled without a send, for a reason the suite checked: ${JSON.stringify(verdict.excused)}`);
  if (unexpectedExits.length) log(`chaos: processes that exited on their own: ${unexpectedExits.join(", ")}`);
  if (simTroubles.size) log(`chaos: what the simulator's posts met: ${JSON.stringify(Object.fromEntries(simTroubles))}`);
  // Every key of every list goes to a file; the console shows the first few of each.
  const verdictFile = path.join(logDir, "verdict.txt");
  const listKeys = (what: string, keys: readonly string[], limit: number) => {
    if (keys.length === 0) return;
    appendFileSync(verdictFile, `${what} (${keys.length}):\n${keys.map((k) => `  ${k}\n`).join("")}`);
    log(`chaos: ${keys.length} ${what}:`);
    for (const key of keys.slice(0, limit)) log(`  ${key}`);
    if (keys.length > limit) log(`  ... and ${keys.length - limit} more (all in ${path.relative(ROOT, verdictFile)})`);
  };
  appendFileSync(verdictFile, `settled without a send, with the suite's evidence (${verdict.excusedKeys.length}):\n${verdict.excusedKeys.map((k) => `  ${k}\n`).join("")}`);
  const violations: Array<[string, string[]]> = [
    ["duplicates", verdict.duplicates],
    ["lost", verdict.lost],
    ["phantoms", verdict.phantoms],
    ["sends the claim did not guard", verdict.unguardedSends],
    ["per-recipient bound exceeded", verdict.boundViolations],
    // Nothing may stay unknown: the reconciler resolves every one from the provider's record. Calls waiting for an
    // operator are counted apart; every call of this run gets its status callbacks, so there must be none.
    ["unknown left unresolved, the provider had it", verdict.unknownReachedProvider],
    ["unknown left unresolved, the provider never had it", verdict.unknownNeverReached],
    ["unknown waiting for an operator", verdict.unknownAwaitingOperator],
    ["forged webhooks the webhooks app accepted", faults.forged.accepted],
    // Drips, from the simulator's text: every step of every lead exactly once, no excuse for a missing one.
    ["drip steps accepted more than once", drips.duplicates],
    ["drip steps owed and never accepted", drips.lost],
    ["drip messages nobody owed", drips.strays],
    [
      "no drip step sent while a fault was active",
      drips.stepsAccepted > 0 && drips.underFaults === 0 ? ["every drip step went out in a calm: nothing tested drips under faults"] : [],
    ],
    ["fewer drip leads enrolled than the workload asks for", dripLeads.length < leadIds.length ? [`${dripLeads.length} of ${leadIds.length} enrolled`] : []],
    // The outbox, from the simulator's record: each committed user's welcome email once, none for a rolled-back one.
    ["welcome emails accepted more than once", outbox.duplicates],
    ["committed users with no welcome email", outbox.lost],
    ["welcome emails for a signup that never committed", outbox.leaked],
    [
      "no welcome email sent while a fault was active",
      outbox.accepted > 0 && outbox.underFaults === 0 ? ["every welcome email went out in a calm: nothing tested the outbox under faults"] : [],
    ],
    [
      "fewer signups settled than the workload asks for",
      outbox.committed + outbox.rolledBack < options.signups ? [`${outbox.committed + outbox.rolledBack} of ${options.signups} signups committed or rolled back`] : [],
    ],
    [
      "no message owed in a calm",
      verdict.calm.owed === 0 ? ["no delivery was owed entirely outside the faults' windows: nothing tested that a calm loses nothing"] : [],
    ],
  ];
  const failed = violations.some(([, keys]) => keys.length > 0);
  for (const [what, keys] of violations) listKeys(`VIOLATION ${what}`, keys, 50);
  if (!failed) log("chaos: no duplicates, nothing lost, no phantoms, no recipient over the bound");
  console.log(
    JSON.stringify({
      messages: verdict.messages,
      faults: faults.counts,
      duplicates: verdict.duplicates.length,
      lost: verdict.lost.length,
      phantoms: verdict.phantoms.length,
      unguarded_sends: verdict.unguardedSends.length,
      bound_violations: verdict.boundViolations.length,
      delivered: verdict.delivered,
      excused: Object.values(verdict.excused).reduce((a, b) => a + b, 0),
      calm: verdict.calm,
      unknown_unresolved: verdict.unknownReachedProvider.length + verdict.unknownNeverReached.length,
      unknown_awaiting_operator: verdict.unknownAwaitingOperator.length,
      webhooks_forged: faults.forged.sent,
      webhooks_forged_accepted: faults.forged.accepted.length,
      webhooks: callbacks,
      unknown_reached_provider: verdict.unknownReachedProvider.length,
      unknown_never_reached: verdict.unknownNeverReached.length,
      drips: {
        enrollments: drips.enrollments,
        steps_owed: drips.stepsOwed,
        steps_accepted: drips.stepsAccepted,
        duplicates: drips.duplicates.length,
        lost: drips.lost.length,
        strays: drips.strays.length,
        under_faults: drips.underFaults,
      },
      outbox: {
        signups: outbox.signups,
        committed: outbox.committed,
        rolled_back: outbox.rolledBack,
        ambiguous: outbox.ambiguous,
        accepted: outbox.accepted,
        duplicates: outbox.duplicates.length,
        lost: outbox.lost.length,
        leaked: outbox.leaked.length,
        under_faults: outbox.underFaults,
      },
      max_per_recipient_hour: verdict.maxPerRecipientHour,
      seconds: Math.round((Date.now() - started) / 1000),
    }),
  );
  process.exit(failed ? 1 : 0);
}

async function openWork(databaseUrl: string): Promise<number> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const r = await client.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM deliveries WHERE state IN ('pending', 'sending')
                 OR (state = 'unknown' AND awaiting_operator_since IS NULL)) +
              (SELECT count(*) FROM appointments a WHERE a.status = 'scheduled' AND NOT EXISTS (
                 SELECT 1 FROM deliveries d WHERE d.appointment_id = a.id AND d.step = $1 AND d.appointment_starts_at = a.starts_at)) +
              (SELECT count(*) FROM enrollments WHERE campaign_id = $2 AND (state = 'active' OR awaiting_key IS NOT NULL)) AS n`,
      [STEPS, CHAOS_CAMPAIGN.id],
    );
    return Number(r.rows[0]!.n);
  } finally {
    await client.end();
  }
}

async function progress(databaseUrl: string, started: number, accepted: number, faults: number, fleet: ProcessFleet): Promise<string> {
  let states = "(database unreachable)";
  const client = new Client({ connectionString: databaseUrl });
  try {
    await client.connect();
    const r = await client.query<{ state: string; n: string }>("SELECT state::text, count(*) AS n FROM deliveries GROUP BY 1 ORDER BY 1");
    const e = await client.query<{ state: string; n: string }>("SELECT state::text, count(*) AS n FROM enrollments GROUP BY 1 ORDER BY 1");
    states = `${r.rows.map((x) => `${x.state}=${x.n}`).join(" ")} enrollments ${e.rows.map((x) => `${x.state}=${x.n}`).join(" ") || "none"}`;
  } catch {
    // Postgres may be restarting: that is one of the faults.
  } finally {
    await client.end().catch(() => undefined);
  }
  const t = Math.round((Date.now() - started) / 1000);
  return `[${t}s] provider_requests=${accepted} ${states} faults=${faults} workers=${fleet.running("worker")} schedulers=${fleet.running("scheduler")} relays=${fleet.running("relay")}`;
}

async function dropDatabase(name: string): Promise<void> {
  const client = new Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

main().catch((error: unknown) => {
  console.error(`chaos: ${(error as Error).stack ?? String(error)}`);
  process.exit(2);
});
