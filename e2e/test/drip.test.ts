import { createRedis, type Redis } from "@nudge/queue";
import { type AppProcess, eventually, startApp } from "@nudge/testing";
import { type DripFleet, loadCampaign, namedStepsCampaign, sendsPerStep, startDrips } from "./drip-fleet";
import { type Fleet, startFleet } from "./fleet";

jest.setTimeout(240_000);

describe("drip campaigns on the send guard", () => {
  let fleet: Fleet;
  let redis: Redis;
  let drips: DripFleet;

  beforeEach(async () => {
    fleet = await startFleet();
    redis = createRedis(fleet.redisUrl);
    drips = startDrips(fleet, redis);
  });

  afterEach(async () => {
    await drips.close();
    redis.disconnect();
    await fleet.close();
  });

  test("each lead gets every step once, in order, and the next only after the last settled", async () => {
    await loadCampaign(
      fleet.db,
      namedStepsCampaign("smoke", [
        { id: "one", channel: "sms" },
        { id: "two", channel: "email" },
        { id: "three", channel: "sms" },
      ]),
    );
    const leads = await drips.enrollLeads("smoke", 10);
    await fleet.startWorker();
    const passing = drips.keepPassing();
    await drips.allDone(60_000);
    await passing.stop();

    const sends = sendsPerStep(fleet.sim);
    for (const lead of leads) {
      for (const step of ["one", "two", "three"]) expect([lead.name, step, sends.get(`${step}|${lead.name}`)]).toEqual([lead.name, step, 1]);
    }
    const enrollments = await fleet.db.enrollment.findMany({ select: { state: true, doneStepIds: true } });
    expect(enrollments.every((e) => e.state === "completed" && e.doneStepIds.join() === "one,two,three")).toBe(true);
  });

  test("1,000 leads through 5 steps, workers SIGKILLed at random and HubSpot failing on a share of calls: each step exactly once, and HubSpot names the last step accepted", async () => {
    const steps = ["s1", "s2", "s3", "s4", "s5"];
    await loadCampaign(
      fleet.db,
      namedStepsCampaign(
        "five",
        steps.map((id, i) => ({ id, channel: i % 2 === 0 ? ("sms" as const) : ("email" as const) })),
      ),
    );
    const leads = await drips.enrollLeads("five", Number(process.env.DRIP_LEADS ?? 1000));
    const env = { WORKER_CONCURRENCY: "32" };
    const workers: AppProcess[] = [await fleet.startWorker(env), await fleet.startWorker(env)];
    // A worker killed between its claim and its record leaves the step `unknown`: the reconciler settles it from the
    // provider's record (Twilio's list by body, SendGrid's Email Activity by delivery id), as in production.
    const reconciler = startApp("apps/reconciler/src/main.ts", {
      ...fleet.workerEnv,
      SENDGRID_EMAIL_ACTIVITY: "on",
      RECONCILE_INTERVAL_MS: "500",
      RECONCILE_SETTLE_MS: "3000",
      RECONCILE_EMAIL_SETTLE_MS: "3000",
    });
    await reconciler.waitForLine(/"msg":"reconciler started"/);
    const passing = drips.keepPassing(300);

    // Chaos until every lead is through: every 2 to 4 s a random worker is SIGKILLed (whatever it is doing) and
    // replaced, and the next HubSpot calls meet a 502, a 5xx after the write was applied, two 429s and a reset (a
    // share of the calls: the fleet makes about ten a second, its shared budget).
    let done = false;
    let kills = 0;
    const chaos = (async () => {
      while (!done) {
        await new Promise((r) => setTimeout(r, 2_000 + Math.random() * 2_000));
        if (done) break;
        const victim = Math.floor(Math.random() * workers.length);
        await workers[victim]!.kill("SIGKILL");
        kills++;
        fleet.sim.clearFaults();
        fleet.sim.injectFault([
          { kind: "500", provider: "hubspot", times: 1, status: 502 },
          { kind: "accept-then-500", provider: "hubspot", times: 1 },
          { kind: "429", provider: "hubspot", times: 2, retryAfterSeconds: 1 },
          { kind: "reset", provider: "hubspot", times: 1 },
        ]);
        workers[victim] = await fleet.startWorker(env);
      }
    })();
    try {
      await drips.allDone(420_000);
    } finally {
      done = true;
      await chaos;
      await passing.stop();
      await reconciler.kill("SIGKILL");
    }
    expect(kills).toBeGreaterThan(3);

    // By the simulator's record: every lead got every step, exactly once.
    const sends = sendsPerStep(fleet.sim);
    const wrong = leads.flatMap((l) => steps.filter((s) => sends.get(`${s}|${l.name}`) !== 1).map((s) => `${l.name} ${s}: ${sends.get(`${s}|${l.name}`) ?? 0}`));
    expect(wrong).toEqual([]);
    expect([...sends.values()].reduce((a, b) => a + b, 0)).toBe(leads.length * 5);

    // HubSpot's final properties name the last step the simulator accepted, with that step's due time (derived from
    // the step, not the clock at write time: its deadline is the due time plus the campaign's 24 h staleness limit).
    const lastSteps = await fleet.db.delivery.findMany({ where: { idempotencyKey: { endsWith: ".step-s5" } }, select: { contactId: true, deadline: true } });
    const dueOf = new Map(lastSteps.map((d) => [d.contactId, new Date(d.deadline.getTime() - 24 * 3_600_000).toISOString()]));
    const byContact = new Map(fleet.sim.crmContacts().map((c) => [Number(c.properties.nudge_contact_id), c.properties]));
    const crmWrong = leads.flatMap((l) => {
      const p = byContact.get(l.contactId);
      const got = `${p?.nudge_campaign} ${p?.nudge_campaign_step} ${p?.nudge_campaign_step_at}`;
      const want = `five s5 ${dueOf.get(l.contactId)}`;
      return got === want ? [] : [`${l.name}: ${got} (want ${want})`];
    });
    expect(crmWrong).toEqual([]);
  }, 600_000);

  test("HubSpot down for a whole pass: nobody is messaged until their CRM update succeeds, then each step goes once", async () => {
    await loadCampaign(
      fleet.db,
      namedStepsCampaign("crm-first", [
        { id: "first", channel: "sms" },
        { id: "second", channel: "email" },
      ]),
    );
    const leads = await drips.enrollLeads("crm-first", 20);
    await fleet.startWorker(); // ready while HubSpot is up
    fleet.sim.injectFault({ kind: "500", provider: "hubspot", times: 1_000_000 });
    expect((await drips.pass()).enqueued).toBe(20);
    // Every lead's job has met HubSpot's outage at least once.
    await eventually(
      "every first step tried against HubSpot",
      async () => {
        const jobs = await Promise.all(leads.map((l) => drips.queue.getJob(`drip.enr-${l.enrollmentId}.step-first`)));
        return jobs.every((j) => j && j.attemptsMade >= 1) ? true : undefined;
      },
      30_000,
    );
    expect(fleet.sim.records().filter((r) => r.provider !== "hubspot")).toEqual([]);
    expect(await fleet.db.delivery.count()).toBe(0);

    fleet.sim.clearFaults();
    const passing = drips.keepPassing();
    await drips.allDone(60_000);
    await passing.stop();
    const sends = sendsPerStep(fleet.sim);
    for (const l of leads) expect([l.name, sends.get(`first|${l.name}`), sends.get(`second|${l.name}`)]).toEqual([l.name, 1, 1]);
  });
});
