import { createAppointment, createContact } from "@nudge/testing";
import { startFleet, type Fleet } from "./fleet";

let fleet: Fleet;
beforeAll(async () => {
  fleet = await startFleet();
});
afterAll(() => fleet.close());

describe("every channel, end to end through the real SDKs", () => {
  it("sends the due step on its channel once, updates the CRM, and skips a step with no address", async () => {
    // One contact per channel, so that each recipient's record holds exactly one message.
    const ada = await createContact(fleet.db);
    const grace = await createContact(fleet.db);
    const alan = await createContact(fleet.db);
    const noEmail = await createContact(fleet.db, { email: null });
    const call = await createAppointment(fleet.db, ada.id, { inMinutes: 20 });
    const sms = await createAppointment(fleet.db, grace.id, { inMinutes: 90 });
    const email = await createAppointment(fleet.db, alan.id, { inMinutes: 600 });
    await createAppointment(fleet.db, noEmail.id, { inMinutes: 600 });
    await fleet.startWorker();
    await fleet.pass();
    const deliveries = await fleet.settled(4);

    const byAppointment = async (id: number) => fleet.db.delivery.findFirstOrThrow({ where: { appointmentId: id } });
    for (const [appt, provider] of [[call, "twilio-voice"], [sms, "twilio-sms"], [email, "sendgrid"]] as const) {
      const d = await byAppointment(appt.id);
      expect(d.state).toBe("sent");
      const records = fleet.sim.records({ to: d.recipient }).filter((r) => r.provider !== "hubspot");
      expect(records.map((r) => [r.provider, r.id])).toEqual([[provider, d.providerMessageId]]);
    }
    expect(deliveries.find((d) => d.recipient === "")).toMatchObject({ state: "skipped", reason: expect.stringMatching(/no email address/) });
    // The CRM step found or created each contact and stored its HubSpot id.
    const adaNow = await fleet.db.contact.findUniqueOrThrow({ where: { id: ada.id } });
    expect(fleet.sim.crmContact(adaNow.hubspotId!)?.properties).toMatchObject({ nudge_contact_id: String(ada.id), nudge_last_reminder_channel: "voice" });
  });
});
