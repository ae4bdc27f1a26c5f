/**
 * One jest run for the whole workspace. Tests talk to real Redis and Postgres, so files run one at a time
 * (the FLUSHALL and crash tests own the Redis server while they run); each file still gets its own database
 * and queue prefix from @nudge/testing.
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  testMatch: ["<rootDir>/{apps,packages}/*/test/**/*.test.ts", "<rootDir>/e2e/test/**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.base.json" }] },
  globalSetup: "<rootDir>/packages/testing/src/global-setup.ts",
  maxWorkers: 1,
  testTimeout: 60_000,
};
