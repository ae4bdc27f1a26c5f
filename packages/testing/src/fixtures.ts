import type { Db } from "@nudge/db";

let counter = 0;

/** A contact with both phone and email (fictional: +1 555-01xx is reserved for fiction, example.com for docs). */
export async function createContact(
  db: Db,
  overrides: Partial<{ name: string; phone: string | null; email: string | null; hubspotId: string | null; timezone: string }> = {},
) {
  counter++;
  const n = String(counter % 100).padStart(2, "0");
  return db.contact.create({
    data: {
      name: overrides.name ?? `Test Person ${counter}`,
      phone: overrides.phone === undefined ? `+1555010${n.padStart(4, "0")}` : overrides.phone,
      email: overrides.email === undefined ? `person${counter}@example.com` : overrides.email,
      hubspotId: overrides.hubspotId === undefined ? null : overrides.hubspotId, // not in the CRM yet: found or created on the first message
      timezone: overrides.timezone ?? "UTC",
    },
  });
}

/** An appointment `inMinutes` from `now` (default: 20 minutes, so the voice step is the one due). */
export async function createAppointment(db: Db, contactId: number, options: { inMinutes?: number; now?: Date } = {}) {
  const now = options.now ?? new Date();
  // Whole seconds: idempotency keys carry second precision.
  const startsAt = new Date(Math.floor((now.getTime() + (options.inMinutes ?? 20) * 60_000) / 1000) * 1000);
  return db.appointment.create({ data: { contactId, startsAt } });
}

let oneOffRequests = 0;

/**
 * A one-off message with its request row, as the relay writes it (written with its bookmark unset unless `enqueued`,
 * and without a handoff), for tests of what comes after the relay. Returns its id.
 */
export async function createOneOffMessage(
  db: Db,
  options: { channel?: "sms" | "email"; deadlineInMs?: number; contact?: { id: number }; enqueued?: boolean; body?: string } = {},
): Promise<number> {
  const { channel = "sms", deadlineInMs = 3_600_000, enqueued = false } = options;
  oneOffRequests++;
  const body = options.body ?? `Welcome, request ${oneOffRequests}`;
  const contact = options.contact ?? (await createContact(db));
  const [request] = await db.$queryRaw<{ id: number }[]>`
    INSERT INTO relay_requests (source, idempotency_key, kind, payload, outcome)
    VALUES ('test-service', ${`welcome-${oneOffRequests}`}, 'message.send', '{}'::jsonb, 'applied') RETURNING id`;
  const [message] = await db.$queryRaw<{ id: number }[]>`
    INSERT INTO one_off_messages (request_id, contact_id, channel, subject, body, deadline, enqueued)
    VALUES (${request!.id}, ${contact.id}, ${channel}::"Channel", ${channel === "email" ? "Welcome" : null}, ${body},
            nudge_now() + ${deadlineInMs} * interval '1 millisecond', ${enqueued})
    RETURNING id`;
  return message!.id;
}
