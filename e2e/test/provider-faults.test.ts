import type { Fault } from "@nudge/simulator";
import type { AppProcess } from "@nudge/testing";
import { startFleet, type Fleet } from "./fleet";

/**
 * Faults injected in the simulator, answered through the real Twilio SDK: each case is one reminder, run to its
 * terminal state by one long-lived worker process.
 */
let fleet: Fleet;
let worker: AppProcess;
beforeAll(async () => {
  fleet = await startFleet();
  worker = await fleet.startWorker();
});
afterAll(() => fleet.close());

async function oneReminder(prepare: (phone: string) => Promise<void> | void) {
  const before = new Set((await fleet.db.delivery.findMany({ select: { id: true } })).map((d) => d.id));
  const { phone } = await fleet.seedSmsReminder();
  await prepare(phone);
  await fleet.pass();
  const all = await fleet.settled(before.size + 1, 30_000);
  const delivery = all.find((d) => !before.has(d.id))!;
  return { delivery, sends: fleet.sim.records({ provider: "twilio-sms", to: phone }).length };
}

const inject = (fault: Fault) => () => fleet.sim.injectFault(fault);

describe("provider faults through the real Twilio SDK", () => {
  it("500 twice: retried, then exactly one send", async () => {
    const { delivery, sends } = await oneReminder(inject({ kind: "500", provider: "twilio-sms", times: 2 }));
    expect([delivery.state, sends]).toEqual(["sent", 1]);
  });

  it("429 with Retry-After: retried after it, then exactly one send", async () => {
    const { delivery, sends } = await oneReminder(inject({ kind: "429", provider: "twilio-sms", retryAfterSeconds: 1 }));
    expect([delivery.state, sends]).toEqual(["sent", 1]);
  });

  it("refused connections: retried, then exactly one send", async () => {
    const { delivery, sends } = await oneReminder(() => fleet.sim.refuseConnections(1500));
    expect([delivery.state, sends]).toEqual(["sent", 1]);
  });

  it("accept-then-reset: unknown, never resent", async () => {
    const { delivery, sends } = await oneReminder(inject({ kind: "accept-then-reset", provider: "twilio-sms" }));
    expect([delivery.state, sends]).toEqual(["unknown", 1]);
  });

  it("hang: unknown after the timeout, never resent", async () => {
    const { delivery, sends } = await oneReminder(inject({ kind: "hang", provider: "twilio-sms" }));
    expect([delivery.state, sends]).toEqual(["unknown", 1]);
    expect(delivery.reason).toMatch(/outcome unknown/);
  });

  it("21610 unsubscribed: failed, no retry, nothing sent", async () => {
    const { delivery, sends } = await oneReminder((phone) => fleet.sim.unsubscribe(phone));
    expect([delivery.state, sends]).toEqual(["failed", 0]);
    expect(delivery.reason).toMatch(/21610/);
    const failedAttempts = worker.output.filter((l) => l.includes("reminder attempt failed"));
    expect(failedAttempts.filter((l) => l.includes("21610"))).toEqual([]);
  });

  it("a CRM outage delays the reminder but never duplicates it", async () => {
    const { delivery, sends } = await oneReminder(inject({ kind: "500", provider: "hubspot", times: 3 }));
    expect([delivery.state, sends]).toEqual(["sent", 1]);
  });
});
