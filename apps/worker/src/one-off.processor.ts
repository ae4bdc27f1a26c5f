import { oneOffKey } from "@nudge/core";
import { type Db, loadOneOffTarget } from "@nudge/db";
import type { OneOffPayload } from "@nudge/queue";
import type { DeliveryOutcome, SendGuard } from "@nudge/send-guard";
import { UnrecoverableError } from "bullmq";

export interface OneOffDeps {
  db: Db;
  guard: SendGuard;
}

/**
 * One one-off message (another service asked for it through its outbox; the relay wrote it into Nudge's database):
 * build the message from its row and hand it to the send guard, like every message. It has no CRM step: nothing in
 * HubSpot tracks one-off messages. Past its deadline the claim settles it as skipped, never sent late.
 */
export async function processOneOff(payload: OneOffPayload, deps: OneOffDeps): Promise<DeliveryOutcome> {
  const expected = oneOffKey(payload.messageId);
  if (payload.key !== expected) throw new UnrecoverableError(`Invalid one-off payload: key: expected ${expected}, got ${payload.key}`);
  const m = await loadOneOffTarget(deps.db, payload.messageId);
  if (!m) throw new UnrecoverableError(`One-off message ${payload.messageId} does not exist`);
  const recipient = m.channel === "email" ? m.contact.email : m.contact.phone;
  return deps.guard.deliver(
    {
      idempotencyKey: payload.key,
      kind: "one-off",
      source: { type: "one-off", id: m.id, at: m.createdAt },
      contactId: m.contact.id,
      step: 1,
      channel: m.channel,
      recipient: recipient ?? "",
      subject: m.subject ?? undefined,
      body: m.body,
      deadline: m.deadline,
    },
    { skipReason: recipient ? undefined : `contact ${m.contact.id} has no ${m.channel === "email" ? "email address" : "phone number"}` },
  );
}
