import { enqueueReminders } from "@nudge/queue";
import { reminderKey } from "@nudge/core";
import { startFleet, sendsPerRecipient, type Fleet } from "./fleet";

let fleet: Fleet;
beforeEach(async () => {
  fleet = await startFleet();
});
afterEach(() => fleet.close());

describe("duplicate triggers", () => {
  it("144 scheduler passes during a worker outage enqueue each reminder once and send it once", async () => {
    const seeded = await fleet.seedSmsReminders(12);
    // Twelve hours of a five-minute cron with the workers down.
    for (let i = 0; i < 144; i++) await fleet.pass();
    expect(await fleet.queue.getJobCountByTypes("waiting", "delayed", "active", "completed", "failed")).toBe(12);

    await fleet.startWorker();
    await fleet.settled(12);
    // The completed jobs leave Redis (as removeOnComplete eventually does): jobIds no longer dedupe...
    await fleet.queue.clean(0, 1000, "completed");
    expect(await fleet.queue.getJobCountByTypes("completed")).toBe(0);
    // ...so more passes, and even a producer that re-adds the same keys blindly, must be stopped by the ledger.
    for (let i = 0; i < 10; i++) await fleet.pass();
    const appointments = await fleet.db.appointment.findMany();
    await enqueueReminders(
      fleet.queue,
      appointments.map((a) => ({ key: reminderKey({ appointmentId: a.id, startsAt: a.startsAt, step: 2 }), appointmentId: a.id, startsAt: a.startsAt.toISOString(), step: 2 })),
    );
    await new Promise((r) => setTimeout(r, 3000));

    const sends = sendsPerRecipient(fleet.sim);
    for (const { phone } of seeded) expect(sends.get(phone)).toBe(1);
    expect(Object.values(await fleet.states())).toEqual(Array(12).fill("sent"));
  });
});
