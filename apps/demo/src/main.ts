import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import path from "node:path";
import { createCrmGateway } from "@nudge/providers";
import { createDb, ensureDatabase, migrate } from "@nudge/db";
import { createRedis, deleteQueueKeys } from "@nudge/queue";
import { simulatorProviderEnv, SIMULATOR_TWILIO_AUTH_TOKEN, startSimulator } from "@nudge/simulator";
import { loadDemoEnv } from "./env";
import { seedDemo, seedDemoCampaign } from "./seed";

/**
 * `npm run demo`: the whole fleet on this machine. Migrates and seeds a demo database, starts the provider simulator
 * in this process and the scheduler and worker as their own processes, then prints what each recipient received.
 */
const ROOT = path.resolve(__dirname, "../../..");

async function main(): Promise<void> {
  const env = loadDemoEnv();
  await ensureDatabase(env.DATABASE_URL);
  await migrate(env.DATABASE_URL);
  const db = createDb(env.DATABASE_URL, { poolSize: 2 });
  const seeded = await seedDemo(db, new Date());
  const drip = await seedDemoCampaign(db, ROOT);
  await clearQueues(env.REDIS_URL, env.QUEUE_PREFIX);

  const sim = await startSimulator({ port: env.SIMULATOR_PORT, twilioAuthToken: SIMULATOR_TWILIO_AUTH_TOKEN });
  // What `nudge hubspot setup` does on a real deployment: Nudge's property group and properties in the portal.
  const hubspotEnv = simulatorProviderEnv(sim.url);
  await createCrmGateway({ accessToken: hubspotEnv.HUBSPOT_ACCESS_TOKEN!, baseUrl: sim.url, timeoutMs: 5_000 }).setup();
  const logDir = path.join(ROOT, ".nudge");
  mkdirSync(logDir, { recursive: true });
  // The webhooks app receives what the simulator reports (signed as the providers sign); the reconciler resolves
  // any send whose outcome a fault made unknown.
  const apiUrl = `http://127.0.0.1:${env.API_PORT}`;
  sim.configureSendGridEvents({ url: `${apiUrl}/webhooks/sendgrid/events` });
  sim.configureTwilioInbound({ url: `${apiUrl}/webhooks/twilio/inbound` });
  const appEnv = {
    DATABASE_URL: env.DATABASE_URL,
    REDIS_URL: env.REDIS_URL,
    QUEUE_PREFIX: env.QUEUE_PREFIX,
    LOG_LEVEL: env.LOG_LEVEL,
    SCHEDULER_INTERVAL_MS: String(env.SCHEDULER_INTERVAL_MS),
    SHUTDOWN_GRACE_MS: "10000",
    ...simulatorProviderEnv(sim.url),
    TWILIO_STATUS_CALLBACK_URL: `${apiUrl}/webhooks/twilio/status`,
    API_PORT: String(env.API_PORT),
    API_HOST: "127.0.0.1",
    WEBHOOK_PUBLIC_URL: apiUrl,
    SENDGRID_WEBHOOK_PUBLIC_KEY: sim.sendgridEventPublicKey,
    SENDGRID_EVENTS: "on",
  };
  const children = (["api", "scheduler", "worker", "reconciler"] as const).map((app) => start(app, appEnv, logDir));
  // The dashboard with a demo login (DASHBOARD_DEMO_LOGIN: only the demo sets it) over plain http on 127.0.0.1, hence
  // cookies without Secure. It prints the login once it listens; the demo passes that line on.
  const dashboard = start("dashboard", { ...appEnv, DASHBOARD_PORT: String(env.DASHBOARD_PORT), DASHBOARD_DEMO_LOGIN: "1", DASHBOARD_SECURE_COOKIE: "off" }, logDir);
  children.push(dashboard);
  dashboard.stdout!.on("data", (chunk: Buffer) => {
    const login = /dashboard demo login: (\S+) \/ (\S+) at (\S+)/.exec(chunk.toString("utf8"));
    if (login) console.log(`  dashboard            ${login[3]}   (log in as ${login[1]} / ${login[2]}; ledger, timelines, Bull Board)`);
  });

  const due = seeded.filter((s) => !s.cancelled);
  console.log(`\nNudge demo: ${seeded.length} appointments seeded, ${due.length} reminders due now (one is cancelled).`);
  console.log(`  drip campaign        ${drip.campaignId}: ${drip.leads.join(", ")} enrolled; its three steps arrive three minutes apart`);
  console.log(`  provider simulator   ${sim.url}   (everything it accepted: ${sim.url}/__sim/records)`);
  console.log(`  webhooks             ${apiUrl}/webhooks/...   (Twilio status callbacks, inbound SMS, SendGrid events)`);
  console.log(`  logs                 ${path.relative(process.cwd(), logDir)}/api.log, scheduler.log, worker.log, reconciler.log, dashboard.log`);
  console.log(`  Ctrl-C stops the fleet.\n`);

  const printed = new Set<number>();
  let remindersSettled = 0;
  const timer = setInterval(() => {
    void report().catch((error: unknown) => console.error(`demo: ${(error as Error).message}`));
  }, 1000);
  let finished = false;
  async function report(): Promise<void> {
    const rows = await db.delivery.findMany({ include: { contact: true }, orderBy: { id: "asc" } });
    for (const d of rows) {
      if (printed.has(d.id) || d.state === "pending" || d.state === "sending") continue;
      printed.add(d.id);
      const what = d.channel === "voice" ? "call" : d.channel === "sms" ? "SMS" : "email";
      const mark = d.state === "sent" ? "✔" : "•";
      if (d.kind === "drip") {
        const step = /\.step-(.+)$/.exec(d.idempotencyKey)?.[1] ?? "?";
        console.log(`  ${mark} ${d.contact.name.padEnd(18)} drip step ${step} (${what}) to ${d.recipient} ${d.state}${d.reason ? ` (${d.reason})` : ""}`);
      } else {
        remindersSettled++;
        const accepted = sim.records({ to: d.recipient }).filter((r) => r.provider !== "hubspot");
        console.log(
          `  ${mark} ${d.contact.name.padEnd(18)} ${what.padEnd(5)} to ${d.recipient.padEnd(20)} ${d.state}` +
            `${d.reason ? ` (${d.reason})` : ""}; the provider accepted ${accepted.length} message(s) for this recipient`,
        );
      }
      if (d.state === "sent") console.log(`      "${d.body}"`);
    }
    if (!finished && remindersSettled >= due.length) {
      finished = true;
      const reminderRecipients = new Set(rows.filter((d) => d.kind === "reminder").map((d) => d.recipient));
      const perRecipient = new Map<string, number>();
      for (const r of sim.records()) {
        if (r.provider !== "hubspot" && reminderRecipients.has(r.to)) perRecipient.set(r.to, (perRecipient.get(r.to) ?? 0) + 1);
      }
      const twice = [...perRecipient].filter(([, n]) => n > 1);
      console.log(
        `\n${remindersSettled} reminders settled; ${perRecipient.size} recipients reached, ${twice.length} of them more than once.` +
          ` The drip steps keep arriving as they fall due. Ctrl-C to stop.`,
      );
    }
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    console.log("\nstopping the fleet...");
    await Promise.all(children.map((c) => stopChild(c)));
    await sim.close();
    await db.$disconnect();
    console.log("stopped.");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}

function start(app: "api" | "scheduler" | "worker" | "reconciler" | "dashboard", env: Record<string, string>, logDir: string): ChildProcess {
  const log = createWriteStream(path.join(logDir, `${app}.log`), { flags: "w" });
  // The scheduler runs within its heap budget, as every launcher starts it (apps/scheduler/src/heap-budget.ts).
  const flags = app === "scheduler" ? ["--max-old-space-size=128"] : [];
  const child = spawn(process.execPath, [...flags, "--import", "tsx", path.join(ROOT, `apps/${app}/src/main.ts`)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    // Own process group: Ctrl-C reaches the demo, which stops the apps gracefully in order.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  child.on("exit", (code, signal) => {
    if (code !== 0 && signal === null) console.error(`demo: the ${app} exited with code ${code}; see ${path.join(logDir, `${app}.log`)}`);
  });
  return child;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

async function clearQueues(redisUrl: string, prefix: string): Promise<void> {
  const redis = createRedis(redisUrl);
  try {
    await deleteQueueKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

main().catch((error: unknown) => {
  console.error(`demo: ${(error as Error).message}`);
  process.exit(1);
});
