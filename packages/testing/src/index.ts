export { ADMIN_DATABASE_URL, TEST_REDIS_URL, databaseUrl } from "./env";
export { createTestDatabase, adminQuery } from "./test-database";
export type { TestDatabase } from "./test-database";
export { testQueuePrefix, deletePrefix } from "./test-redis";
export { startApp, eventually, runCommand, REPO_ROOT } from "./child-process";
export type { AppProcess, CommandRun } from "./child-process";
export { createContact, createAppointment, createOneOffMessage } from "./fixtures";
export { freePort, startRedisServer } from "./redis-server";
export type { RedisServer } from "./redis-server";
export { setDatabaseClock, advanceDatabaseClock } from "./database-clock";
/** What the database's clock reads now (the db package's own reader, for tests). */
export { databaseNow } from "@nudge/db";
