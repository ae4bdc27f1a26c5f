import { randomBytes } from "node:crypto";
import { Client } from "pg";

/**
 * Forged provider webhooks, as an attacker who knows the routes but not the signing secrets would send them: a
 * Twilio status callback saying a real delivery was undelivered, an inbound STOP from a real contact's phone, and a
 * SendGrid bounce for a real delivery, each unsigned or with a made-up signature. The webhooks app must refuse every
 * one (403); any other answer is a violation, and had one got in, the judge would also see its effect (a recipient
 * suppressed, a delivery moved).
 */
export async function forgeWebhooks(apiUrl: string, databaseUrl: string): Promise<{ sent: number; accepted: string[] }> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  let target: { id: number; phone: string; email: string } | undefined;
  try {
    target = (
      await client.query<{ id: number; phone: string; email: string }>(
        `SELECT d.id, c.phone, c.email FROM deliveries d JOIN contacts c ON c.id = d.contact_id ORDER BY random() LIMIT 1`,
      )
    ).rows[0];
  } finally {
    await client.end();
  }
  if (!target) return { sent: 0, accepted: [] };
  const fakeSignature = () => randomBytes(20).toString("base64");
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const attempts: Array<{ what: string; path: string; contentType: string; body: string; headers: Record<string, string> }> = [];
  for (const signed of [true, false]) {
    const signature: Record<string, string> = signed ? { "X-Twilio-Signature": fakeSignature() } : {};
    attempts.push(
      {
        what: `Twilio status callback (${signed ? "bad signature" : "unsigned"}) for delivery ${target.id}`,
        path: `/webhooks/twilio/status?deliveryId=${target.id}`,
        contentType: "application/x-www-form-urlencoded",
        body: form({ MessageSid: `SM${randomBytes(16).toString("hex")}`, MessageStatus: "undelivered", ErrorCode: "30003" }),
        headers: signature,
      },
      {
        what: `Twilio inbound STOP (${signed ? "bad signature" : "unsigned"})`,
        path: "/webhooks/twilio/inbound",
        contentType: "application/x-www-form-urlencoded",
        body: form({ MessageSid: `SM${randomBytes(16).toString("hex")}`, From: target.phone, To: "+15005550006", Body: "STOP" }),
        headers: signature,
      },
      {
        what: `SendGrid bounce (${signed ? "bad signature" : "unsigned"}) for delivery ${target.id}`,
        path: "/webhooks/sendgrid/events",
        contentType: "application/json",
        body: JSON.stringify([
          { email: target.email, event: "bounce", deliveryId: String(target.id), sg_event_id: randomBytes(12).toString("hex"), timestamp: Math.floor(Date.now() / 1000) },
        ]),
        headers: signed
          ? { "X-Twilio-Email-Event-Webhook-Signature": fakeSignature(), "X-Twilio-Email-Event-Webhook-Timestamp": String(Math.floor(Date.now() / 1000)) }
          : {},
      },
    );
  }
  const accepted: string[] = [];
  for (const a of attempts) {
    try {
      const response = await fetch(`${apiUrl}${a.path}`, { method: "POST", headers: { "Content-Type": a.contentType, ...a.headers }, body: a.body });
      await response.arrayBuffer();
      if (response.status !== 403) accepted.push(`${a.what}: answered ${response.status}, not 403`);
    } catch {
      // The webhooks app is down (it may be restarting): nothing got in.
    }
  }
  return { sent: attempts.length, accepted };
}
