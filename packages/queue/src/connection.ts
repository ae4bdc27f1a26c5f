import IORedis, { type Redis } from "ioredis";

export type { Redis };

/**
 * BullMQ needs `maxRetriesPerRequest: null` on connections that block (workers); producers use the same setting so
 * that a Redis restart delays a call instead of failing it. Redis itself must run with `maxmemory-policy noeviction`:
 * an evicted job key would be a silently lost message.
 */
export function createRedis(url: string, options: { lazyConnect?: boolean } = {}): Redis {
  return new IORedis(url, { maxRetriesPerRequest: null, lazyConnect: options.lazyConnect ?? false });
}
