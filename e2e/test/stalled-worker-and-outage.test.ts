import { readFileSync } from "node:fs";
import { eventually } from "@nudge/testing";
import { startFleet, type Fleet } from "./fleet";

/**
 * Two ways time runs out under a worker, with real processes and the real Twilio SDK:
 *  - a worker paused (SIGSTOP) right after its claim and resumed once its lease has ended must not send on that
 *    claim, whoever else is around;
 *  - a provider outage longer than any count of attempts ends in one send per reminder once it is over, none failed.
 * "Sent" is judged by the simulator's record.
 */
let fleet: Fleet;
beforeEach(async () => {
  fleet = await startFleet();
});
afterEach(() => fleet.close());

const LEASE_MS = 7_000; // the smallest the worker accepts with PROVIDER_TIMEOUT_MS=1000
const state = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]![0];

describe("a worker stopped after its claim", () => {
  it("resumed after its lease ended, alone: gives the claim back unsent, and the retry sends once", async () => {
    const { phone } = await fleet.seedSmsReminder();
    const worker = await fleet.startWorker({ NUDGE_FAILPOINT: "after-claim:stop", SEND_LEASE_MS: String(LEASE_MS) });
    await fleet.pass();
    const pid = worker.child.pid!;
    await eventually("the worker stopped after its claim", async () => (state(pid) === "T" ? true : undefined));
    const claimed = await fleet.db.delivery.findFirstOrThrow({ where: { recipient: phone } });
    expect(claimed.state).toBe("sending");
    await eventually("its lease ended by the database's clock", async () => {
      const rows = await fleet.db.$queryRaw<{ ended: boolean }[]>`SELECT lease_expires_at < nudge_now() AS ended FROM deliveries WHERE id = ${claimed.id}`;
      return rows[0]!.ended ? true : undefined;
    });
    process.kill(pid, "SIGCONT");
    await worker.waitForLine(/claim released unsent/);
    const [delivery] = await fleet.settled(1);
    expect(delivery!.state).toBe("sent");
    expect(fleet.sim.records({ provider: "twilio-sms", to: phone })).toHaveLength(1);
  });

  it("resumed after another worker judged the claim abandoned: sends nothing, and the delivery stays unknown", async () => {
    const { phone } = await fleet.seedSmsReminder();
    const stopped = await fleet.startWorker({ NUDGE_FAILPOINT: "after-claim:stop", SEND_LEASE_MS: String(LEASE_MS) });
    await fleet.pass();
    const pid = stopped.child.pid!;
    await eventually("the worker stopped after its claim", async () => (state(pid) === "T" ? true : undefined));
    // A second worker takes the stalled job over after its BullMQ lock, waits out the claim's lease, then records
    // the delivery unknown: the paused worker may have been about to send.
    const other = await fleet.startWorker({ SEND_LEASE_MS: String(LEASE_MS) });
    const [delivery] = await fleet.settled(1, 30_000);
    expect(delivery).toMatchObject({ state: "unknown", reason: expect.stringMatching(/claim expired/) });
    process.kill(pid, "SIGCONT");
    await stopped.waitForLine(/claim released unsent|lease/i);
    await other.kill("SIGTERM");
    expect(fleet.sim.records({ provider: "twilio-sms", to: phone })).toHaveLength(0);
  });
});

/**
 * Quick form (in `npm test`): the outage lasts until every reminder has been refused more than 8 times, the old
 * attempt budget. Long form: `OUTAGE_SECONDS=600 npm test -- e2e/test/stalled-worker-and-outage.test.ts -t outage`
 * keeps Twilio answering 500 for ten minutes of real time (backoff capped at 60 s, deadlines 90 minutes away).
 */
const OUTAGE_MS = Number(process.env.OUTAGE_SECONDS ?? 0) * 1000;

describe("a provider outage longer than any count of attempts", () => {
  it("ends in one send per due reminder once it is over, none failed", async () => {
    const seeded = await fleet.seedSmsReminders(5);
    fleet.sim.injectFault({ kind: "500", provider: "twilio-sms", times: 1_000_000 });
    const outageStarted = Date.now();
    await fleet.startWorker({ JOB_BACKOFF_MS: "50" });
    await fleet.pass();
    // Wait until every reminder has been refused more than 8 times (the old attempt budget), and for the long form
    // until the outage has lasted OUTAGE_SECONDS; then end it.
    await eventually(
      "every reminder retried beyond 8 attempts, still pending",
      async () => {
        const rows = await fleet.db.delivery.findMany({ select: { attempts: true, state: true } });
        return rows.length === 5 && rows.every((r) => r.attempts > 8 && r.state === "pending") ? true : undefined;
      },
      60_000,
    );
    if (OUTAGE_MS > 0) {
      await new Promise((r) => setTimeout(r, Math.max(0, outageStarted + OUTAGE_MS - Date.now())));
      const rows = await fleet.db.delivery.findMany({ select: { state: true } });
      expect(rows.map((r) => r.state)).toEqual(["pending", "pending", "pending", "pending", "pending"]);
    }
    fleet.sim.clearFaults();
    const deliveries = await fleet.settled(5, 90_000);
    expect(deliveries.map((d) => d.state)).toEqual(["sent", "sent", "sent", "sent", "sent"]);
    for (const { phone } of seeded) expect(fleet.sim.records({ provider: "twilio-sms", to: phone })).toHaveLength(1);
  }, 180_000 + OUTAGE_MS);
});
