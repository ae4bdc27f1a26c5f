import { outboxMigrationSql } from "@nudge/client";
import { createDb, type Db, sqlPool } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { createQueue, createRedis, type Redis } from "@nudge/queue";
import { TEST_REDIS_URL, createTestDatabase, deletePrefix, testQueuePrefix, type TestDatabase } from "@nudge/testing";
import type { Queue } from "bullmq";
import { noFailpoints } from "../src/failpoints";
import { OneOffEnqueuer } from "../src/one-off-enqueuer";
import { RequestApplier } from "../src/request-applier";
import { SourceRelay } from "../src/source-relay";
import { openSqlPool, type SqlPool } from "../src/sql-pool";

export const SOURCE = "signup-service";

export interface OutboxInsert {
  key: string;
  kind: string;
  payload: unknown;
  subject?: string | null;
  version?: number | null;
  source?: string;
}

export interface OutboxState {
  id: number;
  key: string;
  relayedAt: Date | null;
  attempts: number;
  lastError: string | null;
}

/** One Nudge database, one caller's database with an outbox, and a queue prefix of the test's own. */
export interface RelayWorld {
  nudge: TestDatabase;
  caller: TestDatabase;
  db: Db;
  outbox: SqlPool;
  redis: Redis;
  queue: Queue;
  prefix: string;
  /** Writes outbox rows in one transaction, in order; returns their ids. */
  insert(rows: OutboxInsert[]): Promise<number[]>;
  outboxRows(): Promise<OutboxState[]>;
  /** A relay in this process, on the caller's database, with its own pool. */
  relay(options?: { batchSize?: number; pollMs?: number; concurrency?: number }): { relay: SourceRelay; enqueuer: OneOffEnqueuer; applier: RequestApplier };
  /** The environment of a relay process on this world. */
  env(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

/** `redisUrl`: a Redis of the test's own (startRedisServer), for tests that stop it. */
export async function createRelayWorld(options: { redisUrl?: string } = {}): Promise<RelayWorld> {
  const redisUrl = options.redisUrl ?? TEST_REDIS_URL;
  const nudge = await createTestDatabase();
  // A scratch database for the caller: a clone of the template is as good as an empty one, and it is dropped the
  // same way (and swept by the next run if this one dies).
  const caller = await createTestDatabase();
  const db = createDb(nudge.url, { poolSize: 8 });
  const outbox = openSqlPool(caller.url, 4);
  // The caller's side: the outbox migration @nudge/client ships.
  await outbox.pool.query(outboxMigrationSql());
  const prefix = testQueuePrefix();
  const redis = createRedis(redisUrl);
  const queue = createQueue("one-off", redis, prefix);
  const logger = createLogger("relay-test", "silent");
  const owned: { relay: SourceRelay; enqueuer: OneOffEnqueuer; pool: SqlPool }[] = [];

  return {
    nudge,
    caller,
    db,
    outbox,
    redis,
    queue,
    prefix,
    async insert(rows) {
      const client = await outbox.pool.connect();
      try {
        await client.query("BEGIN");
        const ids: number[] = [];
        for (const r of rows) {
          const { rows: inserted } = await client.query<{ id: string }>(
            `INSERT INTO nudge_outbox (source, idempotency_key, kind, subject, subject_version, payload) VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id`,
            [r.source ?? SOURCE, r.key, r.kind, r.subject ?? null, r.version ?? null, JSON.stringify(r.payload)],
          );
          ids.push(Number(inserted[0]!.id));
        }
        await client.query("COMMIT");
        return ids;
      } finally {
        client.release();
      }
    },
    async outboxRows() {
      const { rows } = await outbox.pool.query<OutboxState>(
        `SELECT id::int AS id, idempotency_key AS key, relayed_at AS "relayedAt", attempts, last_error AS "lastError" FROM nudge_outbox ORDER BY id`,
      );
      return rows;
    },
    relay({ batchSize = 100, pollMs = 200, concurrency = 1 } = {}) {
      const pool = openSqlPool(caller.url, concurrency + 2);
      const enqueuer = new OneOffEnqueuer({ db, queue, redis, logger });
      const applier = new RequestApplier({ db, defaultDeadlineHours: 24 });
      const relay = new SourceRelay({
        source: { name: SOURCE, url: caller.url },
        pool,
        applier,
        enqueuer,
        logger,
        batchSize,
        concurrency,
        pollMs,
        retentionHours: 168,
        pruneIntervalMs: 60_000,
        failpoint: noFailpoints,
      });
      owned.push({ relay, enqueuer, pool });
      return { relay, enqueuer, applier };
    },
    env(extra = {}) {
      return {
        DATABASE_URL: nudge.url,
        REDIS_URL: redisUrl,
        QUEUE_PREFIX: prefix,
        RELAY_SOURCES: JSON.stringify([{ name: SOURCE, url: caller.url }]),
        RELAY_POLL_MS: "500",
        ...extra,
      };
    },
    async close() {
      // stop() ends a started relay's pool; a relay never started has only its pool to end.
      await Promise.all(owned.map(({ relay }) => relay.stop().catch(() => undefined)));
      await Promise.all(owned.map(({ enqueuer }) => enqueuer.close()));
      await queue.close();
      await deletePrefix(prefix, redisUrl).catch(() => undefined);
      redis.disconnect();
      await outbox.end();
      await db.$disconnect();
      await Promise.all([nudge.drop(), caller.drop()]);
    },
  };
}

/** Rows of Nudge's database, as plain objects. */
export async function nudgeRows<T>(db: Db, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await sqlPool(db).query(sql, params)).rows as T[];
}

export const contact = (id: string, extra: Record<string, string> = {}) => ({ id, name: `Person ${id}`, phone: "+15550100001", email: `${id}@example.com`, ...extra });
