import { type AppProcess, eventually, startApp } from "@nudge/testing";
import { contact, createRelayWorld, nudgeRows, type OutboxInsert, type RelayWorld } from "./relay-fixture";

/**
 * Relays as real processes (`node --import tsx apps/relay/src/main.ts`), so that they can run side by side and be
 * SIGKILLed at the relay's failpoints, as the worker's crash tests do.
 */
let world: RelayWorld;
let processes: AppProcess[];
beforeEach(async () => {
  world = await createRelayWorld();
  processes = [];
});
afterEach(async () => {
  await Promise.all(processes.map((p) => p.kill("SIGKILL")));
  await world.close();
});

async function startRelay(extra: Record<string, string> = {}, waitUntilStarted = true): Promise<AppProcess> {
  const relay = startApp("apps/relay/src/main.ts", world.env(extra));
  processes.push(relay);
  if (waitUntilStarted) await relay.waitForLine(/"msg":"relay started"/);
  return relay;
}

/** `count` requests: mostly one-off messages over a few shared contacts (so relays contend on them), some appointments. */
function requests(count: number, prefix: string): OutboxInsert[] {
  return Array.from({ length: count }, (_, i): OutboxInsert => {
    if (i % 5 === 4) {
      const id = `${prefix}-A-${i}`;
      return { key: `${prefix}-${i}`, kind: "appointment.schedule", subject: `appointment:${id}`, version: 1, payload: { appointmentId: id, contact: contact(`u-${i % 30}`), startsAt: "2026-12-01T09:00:00Z" } };
    }
    return { key: `${prefix}-${i}`, kind: "message.send", payload: { contact: contact(`u-${i % 30}`), channel: "sms", body: `message ${i}` } };
  });
}

async function counts() {
  const [row] = await nudgeRows<{ requests: number; distinct: number; messages: number; handedOff: number; appointments: number }>(
    world.db,
    `SELECT (SELECT count(*)::int FROM relay_requests) AS requests,
            (SELECT count(DISTINCT (source, idempotency_key))::int FROM relay_requests) AS distinct,
            (SELECT count(*)::int FROM one_off_messages) AS messages,
            (SELECT coalesce(sum(cardinality(message_ids)), 0)::int FROM one_off_handoffs) AS "handedOff",
            (SELECT count(*)::int FROM appointments) AS appointments`,
  );
  return row!;
}

const allRelayed = (timeoutMs = 30_000) =>
  eventually("every outbox row relayed", async () => ((await world.outboxRows()).every((r) => r.relayedAt !== null) ? true : undefined), timeoutMs);

const allEnqueued = (messages: number) =>
  eventually(`${messages} one-off jobs enqueued, no handoff left`, async () => {
    const c = await counts();
    const jobs = await world.queue.getJobCountByTypes("waiting", "delayed", "active", "completed", "failed", "prioritized");
    return c.handedOff === 0 && jobs === messages ? true : undefined;
  });

it("three relays at once over 300 rows: each request applied once, each row relayed once", async () => {
  const relays = await Promise.all([0, 1, 2].map(() => startRelay({ RELAY_BATCH_SIZE: "10" })));
  const rows = requests(300, "par");
  // Thirty commits of ten: thirty notifications, each waking all three relays at once.
  for (let i = 0; i < rows.length; i += 10) await world.insert(rows.slice(i, i + 10));
  await allRelayed();

  const outbox = await world.outboxRows();
  expect(outbox).toHaveLength(300);
  expect(outbox.filter((r) => r.attempts !== 1 || r.lastError !== null)).toEqual([]);
  expect(await counts()).toEqual({ requests: 300, distinct: 300, messages: 240, handedOff: expect.any(Number), appointments: 60 });
  await allEnqueued(240);
  // More than one relay took batches: the test exercised SKIP LOCKED, not one relay doing everything.
  const busy = relays.filter((r) => r.output.some((line) => line.includes('"msg":"batch relayed"')));
  expect(busy.length).toBeGreaterThanOrEqual(2);
  // Started as every launcher starts a relay, with its young generation (apps/relay/src/young-generation.ts).
  for (const relay of relays) expect(relay.output.filter((line) => line.includes('"msg":"young generation sized"'))).toEqual([expect.stringContaining('"semiSpaceMb":64')]);
  expect(relays.flatMap((r) => r.output).filter((line) => /"duplicates":[1-9]|"level":50/.test(line))).toEqual([]);
  // SIGTERM: each finishes its batch, closes its connections and exits cleanly.
  expect(await Promise.all(relays.map((r) => r.kill("SIGTERM")))).toEqual([0, 0, 0]);
}, 90_000);

it("SIGKILLed after writing into Nudge's database, before marking the row: the restarted relay applies nothing twice", async () => {
  await world.insert(requests(20, "kill-a"));
  // One batch loop: the failpoint then stops the process after exactly one batch (with two, the other loop's batch
  // may or may not have reached the same point first).
  const doomed = await startRelay({ NUDGE_RELAY_FAILPOINT: "after-nudge-write", RELAY_BATCH_SIZE: "5", RELAY_CONCURRENCY: "1" }, false);
  expect(await doomed.exited).toBe("SIGKILL");
  // The first batch (four messages and an appointment) is in Nudge's record, whole: it is one transaction. Its rows
  // are not marked (the outbox transaction died with the process).
  expect(await counts()).toMatchObject({ requests: 5, messages: 4, appointments: 1 });
  expect((await world.outboxRows()).every((r) => r.relayedAt === null)).toBe(true);

  const survivor = await startRelay({ RELAY_BATCH_SIZE: "5" });
  await allRelayed();
  expect(await counts()).toMatchObject({ requests: 20, distinct: 20, messages: 16, appointments: 4 });
  await allEnqueued(16);
  // The five the dead relay had written were recognised by their keys, not applied again. The survivor's two loops
  // may split them between two batches (SKIP LOCKED lets both take from the same first rows), so the batches' counts
  // are summed.
  const batches = survivor.output.filter((line) => line.includes('"msg":"batch relayed"')).map((line) => JSON.parse(line) as { duplicates: number });
  expect(batches.reduce((sum, batch) => sum + batch.duplicates, 0)).toBe(5);
}, 60_000);

it("SIGKILLed after marking the rows, before enqueueing: the restarted relay enqueues what was left", async () => {
  await world.insert(requests(20, "kill-b"));
  // One batch loop: the failpoint then stops the process after exactly one batch (with two, the other loop's batch
  // may or may not have reached the same point first).
  const doomed = await startRelay({ NUDGE_RELAY_FAILPOINT: "after-outbox-mark", RELAY_BATCH_SIZE: "5", RELAY_CONCURRENCY: "1" }, false);
  expect(await doomed.exited).toBe("SIGKILL");
  const relayed = (await world.outboxRows()).filter((r) => r.relayedAt !== null);
  expect(relayed).toHaveLength(5);
  // Its batch's messages are in Nudge with their handoff, and none has its job.
  const left = await counts();
  expect(left).toMatchObject({ requests: 5 });
  expect(left.messages).toBeGreaterThan(0);
  expect(left.handedOff).toBe(left.messages);
  expect(await world.queue.getJobCountByTypes("waiting", "delayed", "active", "completed", "failed", "prioritized")).toBe(0);

  await startRelay({ RELAY_BATCH_SIZE: "5" });
  await allRelayed();
  expect(await counts()).toMatchObject({ requests: 20, distinct: 20, messages: 16, appointments: 4 });
  await allEnqueued(16);
}, 60_000);

it("refuses to start with a failpoint outside NODE_ENV=test, naming the variable", async () => {
  const relay = await startRelay({ NODE_ENV: "production", NUDGE_RELAY_FAILPOINT: "after-nudge-write" }, false);
  expect(await relay.exited).toBe(1);
  expect(relay.output.join("\n")).toMatch(/NUDGE_RELAY_FAILPOINT is invalid: NUDGE_RELAY_FAILPOINT is for the test suite only/);
});
