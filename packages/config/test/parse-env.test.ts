import { ConfigError } from "@nudge/core";
import { z } from "zod";
import { databaseEnv, parseEnv, positiveInt, redisEnv } from "../src";

const schema = z.object({ ...databaseEnv, ...redisEnv, WORKER_CONCURRENCY: positiveInt(20) });

describe("parseEnv", () => {
  it("applies defaults and coerces numbers", () => {
    const env = parseEnv(schema, { DATABASE_URL: "postgresql://x@localhost/db", WORKER_CONCURRENCY: "5" });
    expect(env).toEqual({ DATABASE_URL: "postgresql://x@localhost/db", REDIS_URL: "redis://127.0.0.1:6379", QUEUE_PREFIX: "nudge", WORKER_CONCURRENCY: 5 });
  });

  it("names every missing or malformed variable at once", () => {
    let error: unknown;
    try {
      parseEnv(schema, { REDIS_URL: "http://nope", WORKER_CONCURRENCY: "-3", QUEUE_PREFIX: "a:b" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/DATABASE_URL is missing/);
    expect(message).toMatch(/REDIS_URL is invalid: expected a redis: or rediss: URL/);
    expect(message).toMatch(/WORKER_CONCURRENCY is invalid: expected a number above 0/);
    expect(message).toMatch(/QUEUE_PREFIX is invalid/);
  });

  it("treats an empty value as missing", () => {
    expect(() => parseEnv(schema, { DATABASE_URL: "" })).toThrow(/DATABASE_URL is missing/);
  });
});
