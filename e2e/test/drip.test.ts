import { createRedis, type Redis } from "@nudge/queue";
import { eventually } from "@nudge/testing";
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
});
