import { createDb, type Db } from "@nudge/db";
import type { Client, Notification } from "pg";
import { createNudgeClient, InvalidNudgeRequestError, OUTBOX_CHANNEL } from "../src";
import { createScratchDatabase, type ScratchDatabase } from "./scratch-database";

const nudge = createNudgeClient({ source: "signup-service" });
const ada = { id: "user-1", name: "Ada Lovelace", email: "ada@example.com", phone: "+15550100001", timezone: "Europe/London" };
const welcome = { contact: ada, subject: "Welcome", body: "Hello Ada" };

let database: ScratchDatabase;
let sql: Client;

beforeAll(async () => {
  database = await createScratchDatabase();
  sql = await database.connect();
});
afterEach(async () => {
  await sql.query("TRUNCATE nudge_outbox, users");
});
afterAll(async () => {
  await sql.end();
  await database.drop();
});

async function outboxRows() {
  const { rows } = await sql.query(
    "SELECT source, idempotency_key, kind, subject, subject_version, payload, relayed_at, attempts, last_error FROM nudge_outbox ORDER BY id",
  );
  return rows;
}

async function userCount(): Promise<number> {
  return (await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM users")).rows[0]!.n;
}

/** A pg client of its own with a transaction open, as a service holds one while it writes its rows. */
async function inTransaction<T>(body: (tx: Client) => Promise<T>, end: "COMMIT" | "ROLLBACK" = "COMMIT"): Promise<T> {
  const tx = await database.connect();
  try {
    await tx.query("BEGIN");
    const result = await body(tx);
    await tx.query(end);
    return result;
  } finally {
    await tx.end();
  }
}

describe("in a pg transaction", () => {
  test("a request commits with the service's own row, and is invisible until then", async () => {
    const result = await inTransaction(async (tx) => {
      await tx.query("INSERT INTO users (email) VALUES ($1)", [ada.email]);
      const written = await nudge.outbox(tx).sendEmail("welcome-1", welcome);
      expect(await outboxRows()).toEqual([]);
      return written;
    });

    expect(result).toEqual({ inserted: true });
    expect(await userCount()).toBe(1);
    expect(await outboxRows()).toEqual([
      {
        source: "signup-service",
        idempotency_key: "welcome-1",
        kind: "message.send",
        subject: null,
        subject_version: null,
        payload: { contact: ada, channel: "email", subject: "Welcome", body: "Hello Ada" },
        relayed_at: null,
        attempts: 0,
        last_error: null,
      },
    ]);
  });

  test("a rolled-back transaction leaves neither the service's row nor the request", async () => {
    await inTransaction(async (tx) => {
      await tx.query("INSERT INTO users (email) VALUES ($1)", [ada.email]);
      await nudge.outbox(tx).sendEmail("welcome-1", welcome);
    }, "ROLLBACK");

    expect(await userCount()).toBe(0);
    expect(await outboxRows()).toEqual([]);
  });

  test("a retried write is a no-op that keeps the first request, in the same transaction or a later one", async () => {
    await inTransaction(async (tx) => {
      expect(await nudge.outbox(tx).sendEmail("welcome-1", welcome)).toEqual({ inserted: true });
      expect(await nudge.outbox(tx).sendEmail("welcome-1", { ...welcome, body: "Hello again" })).toEqual({ inserted: false });
    });
    await inTransaction(async (tx) => {
      expect(await nudge.outbox(tx).sendEmail("welcome-1", welcome)).toEqual({ inserted: false });
    });

    const rows = await outboxRows();
    expect(rows).toHaveLength(1);
    expect(rows[0].payload.body).toBe("Hello Ada");
  });

  test("two services' identical keys are two requests", async () => {
    const billing = createNudgeClient({ source: "billing-service" });
    await inTransaction(async (tx) => {
      expect(await nudge.outbox(tx).sendEmail("welcome-42", welcome)).toEqual({ inserted: true });
      expect(await billing.outbox(tx).sendEmail("welcome-42", welcome)).toEqual({ inserted: true });
    });

    expect((await outboxRows()).map((r) => [r.source, r.idempotency_key])).toEqual([
      ["signup-service", "welcome-42"],
      ["billing-service", "welcome-42"],
    ]);
  });

  test("every request kind, each with its subject and version", async () => {
    await inTransaction(async (tx) => {
      const outbox = nudge.outbox(tx);
      await outbox.sendSms("sms-1", { contact: ada, body: "See you at 9", deadline: "2026-11-24T08:00:00+01:00" });
      await outbox.sendMessage("msg-1", { contact: ada, channel: "email", subject: "Hi", body: "Hi" });
      await outbox.scheduleAppointment("appt.A-17.v1", { appointmentId: "A-17", contact: ada, startsAt: "2026-11-24T09:00:00Z" }, { version: 1 });
      await outbox.confirmAppointment("appt.A-17.v2", { appointmentId: "A-17" }, { version: 2 });
      // BIGINT's largest value, which only a bigint carries without loss.
      await outbox.cancelAppointment("appt.A-17.v3", { appointmentId: "A-17" }, { version: 9_223_372_036_854_775_807n });
      await outbox.enrollLead("enroll-1", { contact: ada, campaignId: "demo-welcome", reenroll: true });
      await outbox.stopLead("stop-1", { contactId: "user-1", reason: "signed a contract" });
      await outbox.request("appointment.schedule", "appt.B-2.v0", { appointmentId: "B-2", contact: ada, startsAt: "2026-11-25T10:00:00Z" }, { version: 0 });
    });

    expect((await outboxRows()).map((r) => [r.idempotency_key, r.kind, r.subject, r.subject_version])).toEqual([
      ["sms-1", "message.send", null, null],
      ["msg-1", "message.send", null, null],
      ["appt.A-17.v1", "appointment.schedule", "appointment:A-17", "1"],
      ["appt.A-17.v2", "appointment.confirm", "appointment:A-17", "2"],
      ["appt.A-17.v3", "appointment.cancel", "appointment:A-17", "9223372036854775807"],
      ["enroll-1", "lead.enroll", null, null],
      ["stop-1", "lead.stop", null, null],
      ["appt.B-2.v0", "appointment.schedule", "appointment:B-2", "0"],
    ]);
  });

  test("a rejected request throws before any statement, so the caller's transaction stays usable", async () => {
    await inTransaction(async (tx) => {
      await expect(nudge.outbox(tx).sendEmail("welcome-1", { ...welcome, subject: "" })).rejects.toThrow(InvalidNudgeRequestError);
      await expect(nudge.outbox(tx).sendEmail("42", welcome)).rejects.toThrow(/key: /);
      await tx.query("INSERT INTO users (email) VALUES ($1)", [ada.email]);
    });

    expect(await userCount()).toBe(1);
    expect(await outboxRows()).toEqual([]);
  });

  test("without the migration, the error says to apply it", async () => {
    await inTransaction(async (tx) => {
      // A schema without the outbox stands for a database that was never migrated.
      await tx.query("CREATE SCHEMA unmigrated");
      await tx.query("SET LOCAL search_path TO unmigrated");
      await expect(nudge.outbox(tx).sendEmail("welcome-1", welcome)).rejects.toThrow(
        "nudge_outbox does not exist in this database: apply @nudge/client's migration first",
      );
    }, "ROLLBACK");
  });
});

describe("in a Prisma interactive transaction", () => {
  // Prisma itself (the workspace's client, through its pg adapter) on the scratch database: raw statements need no
  // schema of its own, and `tx` below is Prisma's real TransactionClient, so this file compiling is the proof that the
  // structural PrismaTransactionLike accepts it.
  let db: Db;
  beforeAll(() => {
    db = createDb(database.url, { poolSize: 2 });
  });
  afterAll(async () => {
    await db.$disconnect();
  });

  test("a request commits with the service's own row", async () => {
    const result = await db.$transaction(async (tx) => {
      await tx.$executeRawUnsafe("INSERT INTO users (email) VALUES ($1)", ada.email);
      return nudge.outbox(tx).scheduleAppointment("appt.A-17.v1", { appointmentId: "A-17", contact: ada, startsAt: "2026-11-24T09:00:00Z" }, { version: 1n });
    });

    expect(result).toEqual({ inserted: true });
    expect(await userCount()).toBe(1);
    expect(await outboxRows()).toEqual([
      expect.objectContaining({
        source: "signup-service",
        idempotency_key: "appt.A-17.v1",
        kind: "appointment.schedule",
        subject: "appointment:A-17",
        subject_version: "1",
        payload: { appointmentId: "A-17", contact: ada, startsAt: "2026-11-24T09:00:00Z" },
      }),
    ]);
  });

  test("a transaction that fails leaves neither the service's row nor the request", async () => {
    await expect(
      db.$transaction(async (tx) => {
        await tx.$executeRawUnsafe("INSERT INTO users (email) VALUES ($1)", ada.email);
        await nudge.outbox(tx).sendEmail("welcome-1", welcome);
        throw new Error("signup failed after the request was written");
      }),
    ).rejects.toThrow("signup failed");

    expect(await userCount()).toBe(0);
    expect(await outboxRows()).toEqual([]);
  });

  test("a retried write is a no-op", async () => {
    const first = await db.$transaction((tx) => nudge.outbox(tx).enrollLead("enroll-1", { contact: ada, campaignId: "demo-welcome" }));
    const retry = await db.$transaction((tx) => nudge.outbox(tx).enrollLead("enroll-1", { contact: ada, campaignId: "demo-welcome" }));

    expect([first, retry]).toEqual([{ inserted: true }, { inserted: false }]);
    expect(await outboxRows()).toHaveLength(1);
  });

  test("without the migration, the error says to apply it", async () => {
    await expect(
      db.$transaction(async (tx) => {
        await tx.$executeRawUnsafe("CREATE SCHEMA unmigrated");
        await tx.$executeRawUnsafe("SET LOCAL search_path TO unmigrated");
        await nudge.outbox(tx).sendEmail("welcome-1", welcome);
      }),
    ).rejects.toThrow("nudge_outbox does not exist in this database: apply @nudge/client's migration first");
  });
});

describe("waking the relays", () => {
  let listener: Client;
  const received: Notification[] = [];
  let arrived: (() => void) | undefined;

  beforeAll(async () => {
    listener = await database.connect();
    listener.on("notification", (notification) => {
      received.push(notification);
      arrived?.();
    });
    await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
  });
  afterAll(async () => {
    await listener.end();
  });

  function nextNotification(withinMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no notification on ${OUTBOX_CHANNEL} within ${withinMs} ms`)), withinMs);
      arrived = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  test("a committed transaction notifies once, however many requests it wrote; a rolled-back one never", async () => {
    await inTransaction((tx) => nudge.outbox(tx).sendEmail("welcome-1", welcome), "ROLLBACK");
    const notified = nextNotification(10_000);
    await inTransaction(async (tx) => {
      await nudge.outbox(tx).sendEmail("welcome-2", welcome);
      await nudge.outbox(tx).sendSms("sms-2", { contact: ada, body: "Welcome" });
      await nudge.outbox(tx).enrollLead("enroll-2", { contact: ada, campaignId: "demo-welcome" });
    });
    await notified;
    // A round trip on the listening connection: Postgres sends a connection its pending notifications before the
    // query's answer, so anything more (the rollback's, or one per statement) would have arrived by now.
    await listener.query("SELECT 1");

    expect(received.map((n) => [n.channel, n.payload])).toEqual([[OUTBOX_CHANNEL, ""]]);
  });
});
