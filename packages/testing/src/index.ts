export { ADMIN_DATABASE_URL, TEST_REDIS_URL, databaseUrl } from "./env";
export { createTestDatabase, adminQuery } from "./test-database";
export type { TestDatabase } from "./test-database";
export { testQueuePrefix, deletePrefix } from "./test-redis";
export { startApp, eventually, REPO_ROOT } from "./child-process";
export type { AppProcess } from "./child-process";
export { createContact, createAppointment } from "./fixtures";
export { startRedisServer } from "./redis-server";
export type { RedisServer } from "./redis-server";
