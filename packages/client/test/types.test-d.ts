/**
 * Type test: misuse of the client fails to compile. Each `@ts-expect-error` below must meet an error, or the
 * type-check (`tsc --noEmit -p packages/client`, and the root one that `npm test` runs) fails with "Unused
 * '@ts-expect-error' directive": a line that compiles when it should not is a failing test. Nothing here runs (jest
 * collects *.test.ts only); the functions exist to be type-checked.
 */
import type { Db } from "@nudge/db";
import type { Client, Pool, PoolClient } from "pg";
import { type ContactRef, createNudgeClient, type NudgeOutbox, type PayloadOf, parseOutboxRow } from "../src";

const nudge = createNudgeClient({ source: "signup-service" });
const contact: ContactRef = { id: "user-1", name: "Ada Lovelace", email: "ada@example.com" };
const appointment = { appointmentId: "A-17", contact, startsAt: "2026-11-24T09:00:00Z" };

export async function wrongPayloads(outbox: NudgeOutbox): Promise<void> {
  // @ts-expect-error an email needs a subject
  await outbox.sendEmail("welcome-1", { contact, body: "Hello" });
  // @ts-expect-error an email needs a subject, through sendMessage too
  await outbox.sendMessage("welcome-1", { contact, channel: "email", body: "Hello" });
  // @ts-expect-error an SMS has no subject
  await outbox.sendSms("sms-1", { contact, body: "Hello", subject: "Hi" });
  // @ts-expect-error an SMS has no subject, through sendMessage too
  await outbox.sendMessage("sms-1", { contact, channel: "sms", body: "Hello", subject: "Hi" });
  // @ts-expect-error no such channel
  await outbox.sendMessage("fax-1", { contact, channel: "fax", body: "Hello" });
  // @ts-expect-error a body is text
  await outbox.sendSms("sms-1", { contact, body: 42 });
  // @ts-expect-error a deadline is an ISO string, not a Date
  await outbox.sendSms("sms-1", { contact, body: "Hello", deadline: new Date() });
  // @ts-expect-error a contact needs a phone or an email
  await outbox.sendSms("sms-1", { contact: { id: "user-1", name: "Ada" }, body: "Hello" });
  // @ts-expect-error a contact has a name
  await outbox.sendSms("sms-1", { contact: { id: "user-1", phone: "+15550100001" }, body: "Hello" });
  // @ts-expect-error startsAt is an ISO string, not a number
  await outbox.scheduleAppointment("appt-1", { ...appointment, startsAt: 1_795_510_800_000 }, { version: 1 });
  // @ts-expect-error a misspelt field
  await outbox.enrollLead("enroll-1", { contact, campaignId: "demo-welcome", renroll: true });
  // @ts-expect-error a stop names its contact by id and gives a reason
  await outbox.stopLead("stop-1", { contact, campaignId: "demo-welcome" });
}

export async function missingOrMisplacedVersions(outbox: NudgeOutbox): Promise<void> {
  // @ts-expect-error an appointment's change needs its version
  await outbox.scheduleAppointment("appt-1", appointment);
  // @ts-expect-error a cancel needs its version
  await outbox.cancelAppointment("appt-2", { appointmentId: "A-17" });
  // @ts-expect-error a confirmation needs its version
  await outbox.confirmAppointment("appt-3", { appointmentId: "A-17" }, {});
  // @ts-expect-error a version is a number or a bigint, not text
  await outbox.cancelAppointment("appt-2", { appointmentId: "A-17" }, { version: "2" });
  // @ts-expect-error the generic form needs it as well
  await outbox.request("appointment.cancel", "appt-2", { appointmentId: "A-17" });
  // @ts-expect-error a kind without a versioned subject takes no version
  await outbox.request("lead.enroll", "enroll-1", { contact, campaignId: "demo-welcome" }, { version: 1 });
}

export async function wrongKinds(outbox: NudgeOutbox): Promise<void> {
  // @ts-expect-error no such kind
  await outbox.request("appointment.move", "appt-1", appointment, { version: 1 });
  // @ts-expect-error the payload of another kind
  await outbox.request("lead.stop", "stop-1", { contact, campaignId: "demo-welcome" });
  // @ts-expect-error a cancel's payload is the appointment's id alone
  await outbox.request("appointment.cancel", "appt-2", { appointmentId: "A-17", startsAt: "2026-11-24T09:00:00Z" }, { version: 2 });
  // @ts-expect-error a key is a string
  await outbox.sendSms(42, { contact, body: "Hello" });
}

/** What must compile: every handle a service has, and each kind's payload typed by the kind. */
export async function rightUse(client: Client, poolClient: PoolClient, pool: Pool, db: Db): Promise<void> {
  await nudge.outbox(client).sendEmail("welcome-1", { contact, subject: "Welcome", body: "Hello" });
  await nudge.outbox(poolClient).sendSms("sms-1", { contact: { id: "user-1", name: "Ada", phone: "+15550100001" }, body: "Hello" });
  await nudge.outbox(pool).scheduleAppointment("appt-1", appointment, { version: 1n });
  // Prisma's own TransactionClient, from the workspace's generated client.
  await db.$transaction((tx) => nudge.outbox(tx).request("appointment.confirm", "appt-2", { appointmentId: "A-17" }, { version: 2 }));
  // @ts-expect-error a handle of neither shape
  nudge.outbox({ execute: () => 1 });

  const request = parseOutboxRow({ source: "signup-service", idempotency_key: "k", kind: "lead.stop", subject: null, subject_version: null, payload: {} });
  if (request.kind === "lead.stop") {
    const reason: string = request.payload.reason;
    // @ts-expect-error a stop's payload has no contact
    void request.payload.contact;
    // @ts-expect-error only versioned kinds carry a version
    const version: bigint = request.version;
    void [reason, version];
  }
  const payload: PayloadOf<"appointment.schedule"> = appointment;
  void payload;
}
