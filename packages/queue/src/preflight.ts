import { connectionErrorCause, maskUrlPassword, withDeadline } from "@nudge/core";
import IORedis from "ioredis";

/**
 * Redis did not answer a start-up check. The message is one line that names the server, its URL (password masked)
 * and the fix, so that a cron mail or a terminal shows the cause instead of a stack trace.
 */
export class RedisUnavailableError extends Error {
  override readonly name = "RedisUnavailableError";
}

/**
 * Sends one PING and fails within `timeoutMs` whatever the server does. The queue's own connections
 * (`createRedis`) retry forever by design (`maxRetriesPerRequest: null`, which BullMQ needs so that a Redis restart
 * delays work instead of failing it), so a one-shot command started with Redis down would never exit. This
 * connection does not retry at all, and the overall deadline covers a server that accepts TCP and never answers
 * (SIGSTOPped, overloaded), which no ioredis timeout does: `connectTimeout` ends at the TCP handshake.
 */
export async function checkRedis(redisUrl: string, options: { timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const redis = new IORedis(redisUrl, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    reconnectOnError: () => false,
    enableOfflineQueue: false,
  });
  // The socket's error (ECONNREFUSED, ENOTFOUND) arrives here; the rejected promise only says the connection closed.
  let socketError: Error | undefined;
  redis.on("error", (error: Error) => {
    socketError ??= error;
  });
  try {
    await withDeadline(
      (async () => {
        await redis.connect();
        await redis.ping();
      })(),
      timeoutMs,
      () => new Error(`no answer within ${timeoutMs / 1000} s`),
    );
  } catch (error) {
    throw describe(redisUrl, socketError ?? (error as Error));
  } finally {
    redis.disconnect();
  }
}

function describe(redisUrl: string, error: Error): RedisUnavailableError {
  const where = maskUrlPassword(redisUrl);
  // A ReplyError means the server answered: a wrong password (NOAUTH, WRONGPASS), or still loading its data.
  if (error.name === "ReplyError") {
    return new RedisUnavailableError(`Redis at ${where} answered PING with an error (${connectionErrorCause(error)}): check REDIS_URL`);
  }
  return new RedisUnavailableError(
    `Redis is not answering at ${where} (${connectionErrorCause(error)}): start it (docker compose up -d redis) or set REDIS_URL`,
  );
}
