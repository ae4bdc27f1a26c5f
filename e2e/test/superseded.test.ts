import { reminderKey } from "@nudge/core";
import { enqueueReminders } from "@nudge/queue";
import { startFleet, type Fleet } from "./fleet";

let fleet: Fleet;
beforeAll(async () => {
  fleet = await startFleet();
});
afterAll(() => fleet.close());

describe("a backlog collapses into the most useful reminder", () => {
  it("an older step still queued when a later one is due is skipped, not sent in a burst", async () => {
    const { appointmentId, phone } = await fleet.seedSmsReminder(); // starts in 90 minutes: SMS (step 2) is due
    const appt = await fleet.db.appointment.findUniqueOrThrow({ where: { id: appointmentId } });
    const stale = { appointmentId, startsAt: appt.startsAt.toISOString(), step: 1 };
    await enqueueReminders(fleet.queue, [{ key: reminderKey({ ...stale, startsAt: appt.startsAt }), ...stale }]);
    await fleet.pass();
    await fleet.startWorker();
    const deliveries = await fleet.settled(2);
    expect(deliveries.map((d) => [d.state, d.reason]).sort()).toEqual([
      ["sent", null],
      ["skipped", "superseded by step 2"],
    ]);
    expect(fleet.sim.records({ to: phone }).length).toBe(1);
    const email = await fleet.db.contact.findFirstOrThrow({ where: { phone } });
    expect(fleet.sim.records({ to: email.email! })).toEqual([]);
  });
});
