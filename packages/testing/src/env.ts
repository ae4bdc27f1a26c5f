/** Where the test suite finds its servers. Defaults match a local machine and .ci/run. */
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
/**
 * Each run's databases carry the run's id (the jest parent's pid, set by global-setup), so that runs on one machine
 * never drop each other's databases: only those of runs whose process is gone are stale.
 */
export function testRunId(): string {
  return process.env.NUDGE_TEST_RUN ?? String(process.pid);
}

export function templateDatabase(): string {
  return `nudge_test_${testRunId()}_template`;
}

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}
