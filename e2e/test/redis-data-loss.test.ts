import IORedis from "ioredis";
import { startRedisServer, type RedisServer } from "@nudge/testing";
import { startFleet, sendsPerRecipient, type Fleet } from "./fleet";

let redisServer: RedisServer;
let fleet: Fleet;
beforeEach(async () => {
  redisServer = await startRedisServer();
  fleet = await startFleet({ redisUrl: redisServer.url });
});
afterEach(async () => {
  await fleet.close();
  await redisServer.stop();
});

describe("Redis loses everything mid-run", () => {
  it("the next pass re-enqueues what is still due; nothing is sent twice and nothing due is lost", async () => {
    const seeded = await fleet.seedSmsReminders(20);
    fleet.sim.setLatency(150);
    await fleet.pass();
    await fleet.startWorker({ WORKER_CONCURRENCY: "2" });
    // Let part of the backlog through, then wipe Redis.
    await waitFor(() => fleet.sim.records({ provider: "twilio-sms" }).length >= 5);
    const redis = new IORedis(fleet.redisUrl);
    await redis.flushall();
    redis.disconnect();
    const sentBeforePass = fleet.sim.records({ provider: "twilio-sms" }).length;
    expect(sentBeforePass).toBeLessThan(20);

    await fleet.pass();
    const deliveries = await fleet.settled(20, 60_000);
    await new Promise((r) => setTimeout(r, 1500));

    const sends = sendsPerRecipient(fleet.sim);
    for (const { phone } of seeded) expect(sends.get(phone)).toBe(1);
    // A send in flight at the moment of the wipe may end `unknown` (its job vanished while it ran): never resent.
    const unknown = deliveries.filter((d) => d.state === "unknown");
    expect(unknown.length).toBeLessThanOrEqual(2);
    expect(deliveries.filter((d) => d.state !== "sent" && d.state !== "unknown")).toEqual([]);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}
