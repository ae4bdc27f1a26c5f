import type { Redis } from "./connection";

/** Anything that re-emits a Redis connection's errors (a BullMQ Queue or Worker, the connection itself). */
interface ErrorSource {
  on(event: "error", listener: (error: Error) => void): unknown;
}

/**
 * One call per change of Redis's state (lost, then restored), instead of one per reconnect attempt, and no
 * unhandled-error noise from ioredis or BullMQ: for apps that go on working while Redis is down (the relay, the API)
 * and only say so once.
 */
export function watchRedisState(redis: Redis, sources: readonly ErrorSource[], on: { lost(error: Error): void; restored(): void }): void {
  let down = false;
  const lost = (error: Error) => {
    if (down) return;
    down = true;
    on.lost(error);
  };
  for (const source of [redis, ...sources]) source.on("error", lost);
  redis.on("ready", () => {
    if (!down) return;
    down = false;
    on.restored();
  });
}
