import { startFleet, sendsPerRecipient, type Fleet } from "./fleet";

/**
 * A worker process is SIGKILLed at a named point of the pipeline; a fresh worker takes the stalled job over.
 * Whatever the point, the simulator must have accepted the message at most once.
 */
let fleet: Fleet;
beforeEach(async () => {
  fleet = await startFleet();
});
afterEach(() => fleet.close());

async function crashThenRecover(failpoint: string) {
  const { phone } = await fleet.seedSmsReminder();
  await fleet.pass();
  const doomed = await fleet.startWorker({ NUDGE_FAILPOINT: failpoint });
  expect(await doomed.exited).toBe("SIGKILL");
  await fleet.startWorker();
  const [delivery] = await fleet.settled(1);
  // Let any late duplicate surface before counting.
  await new Promise((r) => setTimeout(r, 1500));
  return { delivery: delivery!, sends: sendsPerRecipient(fleet.sim).get(phone) ?? 0 };
}

describe("crash safety (worker SIGKILLed, fresh worker takes over)", () => {
  it("(a) after the CRM update: exactly one send", async () => {
    const { delivery, sends } = await crashThenRecover("after-crm-update");
    expect(sends).toBe(1);
    expect(delivery.state).toBe("sent");
  });

  it("(b) after the DB advance commits: exactly one send", async () => {
    const { delivery, sends } = await crashThenRecover("after-db-advance");
    expect(sends).toBe(1);
    expect(delivery.state).toBe("sent");
  });

  it("(c) after the provider accepted, before the result is recorded: one send, delivery unknown", async () => {
    const { delivery, sends } = await crashThenRecover("after-send");
    expect(sends).toBe(1);
    expect(delivery.state).toBe("unknown");
    expect(delivery.reason).toMatch(/claim expired without a recorded outcome.*may have been sent/);
  });
});
