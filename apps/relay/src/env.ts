import { databaseEnv, logEnv, parseEnv, positiveInt, redisEnv, url } from "@nudge/config";
import { z } from "zod";
import { RELAY_FAILPOINTS } from "./failpoints";

/** A source's name is the namespace of its idempotency keys in Nudge (relay_requests.source): a slug. */
const SLUG = /^[a-z0-9]+(-[a-z0-9]+)*$/;

const sourceSchema = z.object({
  name: z.string().regex(SLUG, { message: "expected a slug such as signup-service (a-z, 0-9, single dashes)" }),
  url: url(["postgres:", "postgresql:"], "postgresql://relay@db.signup.internal:5432/signup"),
});
export type RelaySource = z.infer<typeof sourceSchema>;

const SOURCES_EXAMPLE = 'expected JSON such as [{"name":"signup-service","url":"postgresql://relay@signup-db:5432/signup"}]';
const sourcesSchema = z
  .string({ message: SOURCES_EXAMPLE })
  .transform((text, ctx): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      ctx.addIssue({ code: "custom", message: SOURCES_EXAMPLE });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .array(sourceSchema)
      .min(1, { message: "expected at least one source" })
      .refine((sources) => new Set(sources.map((s) => s.name)).size === sources.length, {
        message: "each source name may appear once: a name is the namespace of that service's idempotency keys",
      }),
  );

const schema = z
  .object({
    ...databaseEnv,
    ...redisEnv,
    ...logEnv,
    /**
     * The callers' databases, each with the name its rows must carry: a row whose `source` is not its database's
     * name is refused, so that one service cannot write requests under another's name.
     */
    RELAY_SOURCES: sourcesSchema,
    /** Outbox rows claimed per transaction: larger batches amortise each transaction's round trips and commits. */
    RELAY_BATCH_SIZE: positiveInt(1000),
    /** Batch loops per source database, each with a transaction of its own (see SourceRelay's `concurrency`). */
    RELAY_CONCURRENCY: positiveInt(2),
    /** The safety-net poll: LISTEN/NOTIFY wakes the relay at once; this catches a notification lost with its connection. */
    RELAY_POLL_MS: positiveInt(5_000),
    /** Relayed outbox rows are deleted from the caller's database after this long. */
    RELAY_RETENTION_HOURS: positiveInt(168),
    /** How often relayed rows past their retention are pruned. */
    RELAY_PRUNE_INTERVAL_MS: positiveInt(5 * 60_000),
    /** A one-off message without a deadline of its own is useless this long after it was relayed. */
    ONE_OFF_DEFAULT_DEADLINE_HOURS: positiveInt(24),
    SHUTDOWN_GRACE_MS: positiveInt(25_000),
    /** Tests only: SIGKILL this process at a named point of the relay (see failpoints.ts). */
    NUDGE_RELAY_FAILPOINT: z.enum(RELAY_FAILPOINTS).optional(),
  })
  .refine((env) => env.NUDGE_RELAY_FAILPOINT === undefined || env.NODE_ENV === "test", {
    message: "NUDGE_RELAY_FAILPOINT is for the test suite only; it requires NODE_ENV=test",
    path: ["NUDGE_RELAY_FAILPOINT"],
  });

export type RelayEnv = z.infer<typeof schema>;

export function loadRelayEnv(env: NodeJS.ProcessEnv = process.env): RelayEnv {
  return parseEnv(schema, env);
}
