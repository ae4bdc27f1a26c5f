import { readFileSync } from "node:fs";
import path from "node:path";
import { createDb, type Db, sqlPool } from "@nudge/db";
import { createTestDatabase, eventually, type TestDatabase } from "@nudge/testing";
import { openApiJson, revokeApiToken, listApiTokens, type WebhooksApp } from "../src";
import { loadTestCampaign } from "./fixtures";
import { bearer, newKey, post, rowCounts, SOURCE, startApiApp, token, validRequests } from "./http-api-fixture";
import type { Client } from "./http-client";

/** The HTTP API (/v1) in process, on a real port, against a real Postgres: routes, tokens, idempotency, OpenAPI. */

let database: TestDatabase;
let db: Db;
let app: WebhooksApp;
let client: Client;
let sender: string;
let reader: string;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, { poolSize: 12 });
  await loadTestCampaign(db);
  ({ app, client } = await startApiApp(db));
  sender = await token(db, ["send"]);
  reader = await token(db, ["read"]);
});
afterAll(async () => {
  client.close();
  await app.close();
  await db.$disconnect();
  await database.drop();
});

describe("the HTTP API's routes", () => {
  it("accepts every request kind into Nudge's record, in order, and reads a message's and a recipient's state", async () => {
    const requests = validRequests(1);
    const answers = [];
    for (const r of requests) {
      const answer = await post(client, r.url, r.body, { ...bearer(sender), "idempotency-key": newKey() });
      expect({ url: r.url, status: answer.statusCode, body: answer.json() }).toMatchObject({ url: r.url, status: 201, body: { outcome: "applied" } });
      answers.push(answer.json());
    }
    const { rows } = await sqlPool(db).query<{ kind: string; outcome: string; source: string }>(`SELECT kind, outcome, source FROM relay_requests ORDER BY id`);
    expect(rows.map((r) => [r.kind, r.outcome, r.source])).toEqual([
      ["message.send", "applied", SOURCE],
      ["appointment.schedule", "applied", SOURCE],
      ["appointment.schedule", "applied", SOURCE],
      ["appointment.cancel", "applied", SOURCE],
      ["appointment.confirm", "applied", SOURCE],
      ["lead.enroll", "applied", SOURCE],
      ["lead.stop", "applied", SOURCE],
    ]);
    const appointment = await sqlPool(db).query<{ status: string }>(`SELECT status::text AS status FROM appointments`);
    expect(appointment.rows).toEqual([{ status: "cancelled" }]);
    const enrollment = await sqlPool(db).query<{ state: string; stop_reason: string }>(`SELECT state::text AS state, stop_reason FROM enrollments`);
    expect(enrollment.rows).toEqual([{ state: "stopped", stop_reason: "booked a call" }]);

    const messageId = answers[0].messageId as number;
    expect(messageId).toBeGreaterThan(0);
    const message = await client.request({ method: "GET", url: `/v1/messages/${messageId}`, headers: bearer(reader) });
    expect(message.statusCode).toBe(200);
    expect(message.json()).toMatchObject({ id: messageId, channel: "sms", state: "queued", delivery: null });
    const history = await client.request({ method: "GET", url: "/v1/recipients/patient-1/history", headers: bearer(reader) });
    expect(history.json()).toEqual({ contactId: "patient-1", deliveries: [] });
    // Another source's token sees neither.
    const other = await token(db, ["read"], "other-service");
    expect((await client.request({ method: "GET", url: `/v1/messages/${messageId}`, headers: bearer(other) })).statusCode).toBe(404);
    expect((await client.request({ method: "GET", url: "/v1/recipients/patient-1/history", headers: bearer(other) })).statusCode).toBe(404);
  });

  it("reads a delivery's state once a worker made it, for the source whose contact it is", async () => {
    const sent = await post(client, "/v1/messages", { channel: "email", contact: { id: "reader-1", name: "Reader", email: "reader1@example.com" }, subject: "Hi", body: "Hello" }, { ...bearer(sender), "idempotency-key": newKey() });
    const messageId = sent.json().messageId as number;
    // What the one-off processor's send guard writes: a delivery keyed by the message (written directly here; this
    // test is about what the API reads, not about sending).
    const { rows } = await sqlPool(db).query<{ id: number }>(
      `INSERT INTO deliveries (idempotency_key, kind, source_type, source_id, contact_id, channel, recipient, subject, body, state, deadline, sent_at)
       SELECT 'oneoff.msg-' || m.id, 'one-off', 'one-off', m.id, m.contact_id, 'email', 'reader1@example.com', 'Hi', 'Hello', 'sent', m.deadline, now()
       FROM one_off_messages m WHERE m.id = $1 RETURNING id`,
      [messageId],
    );
    const deliveryId = rows[0]!.id;
    const delivery = await client.request({ method: "GET", url: `/v1/deliveries/${deliveryId}`, headers: bearer(reader) });
    expect(delivery.json()).toMatchObject({ id: deliveryId, kind: "one-off", channel: "email", state: "sent", recipient: "reader1@example.com" });
    expect((await client.request({ method: "GET", url: `/v1/messages/${messageId}`, headers: bearer(reader) })).json()).toMatchObject({ state: "sent", delivery: { id: deliveryId } });
    const history = (await client.request({ method: "GET", url: "/v1/recipients/reader-1/history?limit=5", headers: bearer(reader) })).json();
    expect(history.deliveries.map((d: { id: number }) => d.id)).toEqual([deliveryId]);
    expect((await client.request({ method: "GET", url: `/v1/deliveries/${deliveryId}`, headers: bearer(await token(db, ["read"], "other-service")) })).statusCode).toBe(404);
    expect((await client.request({ method: "GET", url: `/v1/deliveries/${deliveryId}`, headers: bearer(await token(db, ["admin"], "ops")) })).statusCode).toBe(200);
  });

  it("answers a request it records but can never apply with 422 and the reason, and replays that answer", async () => {
    const key = newKey();
    const body = { channel: "email", contact: { id: "sms-only", name: "Sms Only", phone: "+15550109999" }, subject: "Hi", body: "Hello" };
    const first = await post(client, "/v1/messages", body, { ...bearer(sender), "idempotency-key": key });
    expect(first.statusCode).toBe(422);
    expect(first.json().error).toMatch(/has no email address/);
    const again = await post(client, "/v1/messages", body, { ...bearer(sender), "idempotency-key": key });
    expect([again.statusCode, again.body, again.headers["idempotent-replayed"]]).toEqual([422, first.body, "true"]);
  });
});

describe("idempotency keys", () => {
  it("replays the first answer byte for byte, refuses another body under the key with 422, and scopes keys per source", async () => {
    const key = newKey("replay");
    const body = { channel: "sms", contact: { id: "replay-1", name: "Replay", phone: "+15550100777" }, body: "One message" };
    const first = await post(client, "/v1/messages", body, { ...bearer(sender), "idempotency-key": key });
    expect(first.statusCode).toBe(201);
    // The same body with its keys in another order is the same request.
    const reordered = { body: body.body, contact: body.contact, channel: body.channel };
    for (const again of [body, reordered]) {
      const replay = await post(client, "/v1/messages", again, { ...bearer(sender), "idempotency-key": key });
      expect([replay.statusCode, replay.body, replay.headers["idempotent-replayed"]]).toEqual([201, first.body, "true"]);
    }
    const before = await rowCounts(db);
    const changed = await post(client, "/v1/messages", { ...body, body: "Another message" }, { ...bearer(sender), "idempotency-key": key });
    expect(changed.statusCode).toBe(422);
    expect(changed.json().error).toMatch(/Idempotency-Key "replay-.*" was used for another request/);
    const otherRoute = await post(client, "/v1/appointments/x/cancel", { version: 1 }, { ...bearer(sender), "idempotency-key": key });
    expect(otherRoute.statusCode).toBe(422);
    expect(await rowCounts(db)).toEqual(before);
    // Another source's key of the same name is another request.
    const elsewhere = await post(client, "/v1/messages", body, { ...bearer(await token(db, ["send"], "billing-service")), "idempotency-key": key });
    expect(elsewhere.statusCode).toBe(201);
    expect(elsewhere.json().id).not.toBe(first.json().id);
    const { rows } = await sqlPool(db).query<{ n: number }>(`SELECT count(*)::int AS n FROM one_off_messages m JOIN relay_requests r ON r.id = m.request_id WHERE r.idempotency_key = $1`, [key]);
    expect(rows[0]!.n).toBe(2);
  });

  it("answers 409 to a replay while the first request is still in flight, then the first answer once it is done", async () => {
    const key = newKey("held");
    const body = { channel: "sms", contact: { id: "held-1", name: "Held", phone: "+15550100888" }, body: "Held message" };
    // A transaction that holds relay_requests against inserts: the first request claims its key, then waits in the
    // applier's INSERT until the lock goes.
    const holder = await sqlPool(db).connect();
    let first: ReturnType<typeof post> | undefined;
    try {
      await holder.query("BEGIN");
      await holder.query("LOCK TABLE relay_requests IN SHARE MODE");
      first = post(client, "/v1/messages", body, { ...bearer(sender), "idempotency-key": key });
      await eventually("the first request waiting on the held lock, its key claimed", async () => {
        const { rows } = await sqlPool(db).query<{ waiting: number; claimed: number }>(
          `SELECT (SELECT count(*)::int FROM pg_locks WHERE NOT granted AND relation = 'relay_requests'::regclass) AS waiting,
                  (SELECT count(*)::int FROM api_idempotency WHERE idempotency_key = $1 AND state = 'processing') AS claimed`,
          [key],
        );
        return rows[0]!.waiting > 0 && rows[0]!.claimed === 1 ? true : undefined;
      });
      const replay = await post(client, "/v1/messages", body, { ...bearer(sender), "idempotency-key": key });
      expect(replay.statusCode).toBe(409);
      expect(replay.json().error).toMatch(/still being processed/);
      expect(replay.headers["retry-after"]).toBe("1");
      // Another body under the held key is still another request.
      expect((await post(client, "/v1/messages", { ...body, body: "x" }, { ...bearer(sender), "idempotency-key": key })).statusCode).toBe(422);
    } finally {
      await holder.query("ROLLBACK");
      holder.release();
    }
    const answer = await first!;
    expect(answer.statusCode).toBe(201);
    const replay = await post(client, "/v1/messages", body, { ...bearer(sender), "idempotency-key": key });
    expect([replay.statusCode, replay.body]).toEqual([201, answer.body]);
  });

  it("lets a retry take over a key whose process died after applying (its lease ended) and answers what the first would have, with one message", async () => {
    const key = newKey("orphan");
    const body = { channel: "sms", contact: { id: "orphan-1", name: "Orphan", phone: "+15550100999" }, body: "Once" };
    const first = await post(client, "/v1/messages", body, { ...bearer(sender), "idempotency-key": key });
    expect(first.statusCode).toBe(201);
    // The row as a process leaves it when it dies between applying the request and storing the answer.
    const orphan = (lockedUntil: string) =>
      sqlPool(db).query(
        `UPDATE api_idempotency SET state = 'processing', status_code = NULL, response_body = NULL, owner = 'a-dead-process',
           locked_until = nudge_now() + $2::interval WHERE idempotency_key = $1`,
        [key, lockedUntil],
      );
    await orphan("1 minute");
    expect((await post(client, "/v1/messages", body, { ...bearer(sender), "idempotency-key": key })).statusCode).toBe(409);
    await orphan("-1 second");
    const retry = await post(client, "/v1/messages", body, { ...bearer(sender), "idempotency-key": key });
    expect([retry.statusCode, retry.body]).toEqual([201, first.body]);
    const { rows } = await sqlPool(db).query<{ n: number; state: string }>(
      `SELECT (SELECT count(*)::int FROM one_off_messages m JOIN relay_requests r ON r.id = m.request_id WHERE r.idempotency_key = $1) AS n,
              (SELECT state FROM api_idempotency WHERE idempotency_key = $1) AS state`,
      [key],
    );
    expect(rows[0]).toEqual({ n: 1, state: "done" });
  });

  it("lets 200 concurrent requests on 20 keys make 20 requests: each answer is the key's first or a 409", async () => {
    const keys = Array.from({ length: 20 }, () => newKey("burst"));
    const bodyOf = (i: number) => ({ channel: "sms", contact: { id: `burst-${i}`, name: `Burst ${i}`, phone: `+155501${String(2000 + i)}` }, body: `Burst ${i}` });
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, n) => post(client, "/v1/messages", bodyOf(n % 20), { ...bearer(sender), "idempotency-key": keys[n % 20]! }).then((a) => ({ i: n % 20, a }))),
    );
    expect(answers.filter(({ a }) => a.statusCode !== 201 && a.statusCode !== 409).map(({ a }) => a.body)).toEqual([]);
    const { rows } = await sqlPool(db).query<{ key: string; n: number }>(
      `SELECT r.idempotency_key AS key, count(m.id)::int AS n FROM relay_requests r JOIN one_off_messages m ON m.request_id = r.id WHERE r.idempotency_key = ANY($1) GROUP BY 1`,
      [keys],
    );
    expect(rows.length).toBe(20);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    for (let i = 0; i < 20; i++) {
      const replay = await post(client, "/v1/messages", bodyOf(i), { ...bearer(sender), "idempotency-key": keys[i]! });
      for (const { a } of answers.filter((x) => x.i === i && x.a.statusCode === 201)) expect(a.body).toBe(replay.body);
    }
  });
});

describe("batches", () => {
  it("applies concurrent one-off requests together, refusing only those that can never be sent, each answer replayed as given", async () => {
    const requests = Array.from({ length: 40 }, (_, i) => ({
      key: newKey("batch"),
      // Every third is an email to a contact with a phone only: recorded and refused, in the same batch as the others.
      body:
        i % 3 === 0
          ? { channel: "email", contact: { id: `batch-${i}`, name: `Batch ${i}`, phone: `+155501${String(3000 + i)}` }, subject: "Hi", body: "Hello" }
          : { channel: "sms", contact: { id: `batch-${i}`, name: `Batch ${i}`, phone: `+155501${String(3000 + i)}` }, body: `Hello ${i}` },
    }));
    const answers = await Promise.all(requests.map((r) => post(client, "/v1/messages", r.body, { ...bearer(sender), "idempotency-key": r.key })));
    expect(answers.map((a) => a.statusCode)).toEqual(requests.map((_, i) => (i % 3 === 0 ? 422 : 201)));
    expect(answers.filter((_, i) => i % 3 === 0).every((a) => /has no email address/.test(a.json().error))).toBe(true);
    expect(new Set(answers.filter((a) => a.statusCode === 201).map((a) => a.json().messageId)).size).toBe(26);
    for (const [i, r] of requests.entries()) {
      const replay = await post(client, "/v1/messages", r.body, { ...bearer(sender), "idempotency-key": r.key });
      expect([replay.statusCode, replay.body]).toEqual([answers[i]!.statusCode, answers[i]!.body]);
    }
  });
});

describe("tokens", () => {
  it("fails a revoked token on its next request, and lists tokens without their secret", async () => {
    const t = await token(db, ["send", "read"], "revoking-service");
    const ok = await client.request({ method: "GET", url: "/v1/recipients/nobody/history", headers: bearer(t) });
    expect(ok.statusCode).toBe(404);
    const listed = await listApiTokens(db);
    const mine = listed.find((x) => x.source === "revoking-service")!;
    expect(JSON.stringify(listed)).not.toContain(t);
    await revokeApiToken(db, mine.id);
    const refused = await client.request({ method: "GET", url: "/v1/recipients/nobody/history", headers: bearer(t) });
    expect([refused.statusCode, refused.json().error]).toEqual([401, "the bearer token is not valid (unknown or revoked)"]);
  });

  it("rate-limits each token on its own, with 429 and Retry-After", async () => {
    const limited = await startApiApp(db, { rateLimitPerMinute: 3 });
    try {
      const [a, b] = [await token(db, ["read"]), await token(db, ["read"])];
      const get = (t: string) => limited.client.request({ method: "GET", url: "/v1/recipients/nobody/history", headers: bearer(t) });
      for (let i = 0; i < 3; i++) expect((await get(a)).statusCode).toBe(404);
      const over = await get(a);
      expect(over.statusCode).toBe(429);
      expect(Number(over.headers["retry-after"])).toBeGreaterThan(0);
      expect(over.json().error).toMatch(/at most 3 requests per minute for this token/);
      expect((await get(b)).statusCode).toBe(404);
    } finally {
      limited.client.close();
      await limited.app.close();
    }
  });
});

describe("the OpenAPI document", () => {
  it("is served at /v1/openapi.json without a token, and the committed apps/api/openapi.json is the generated one (npm run openapi -w @nudge/api)", async () => {
    const committed = readFileSync(path.join(__dirname, "..", "openapi.json"), "utf8");
    expect(committed).toBe(openApiJson());
    const served = await client.request({ method: "GET", url: "/v1/openapi.json" });
    expect(served.statusCode).toBe(200);
    expect(served.body).toBe(committed);
    expect(Object.keys(served.json().paths)).toEqual(expect.arrayContaining(["/v1/messages", "/v1/appointments", "/v1/leads/{contactId}/stop", "/v1/deliveries/{deliveryId}"]));
  });
});
