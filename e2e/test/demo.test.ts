import { createTestDatabase, freePort, startApp, testQueuePrefix, TEST_REDIS_URL, deletePrefix, type TestDatabase } from "@nudge/testing";

let database: TestDatabase;
const prefix = testQueuePrefix();
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await deletePrefix(prefix);
  await database.drop();
});

describe("the demo fleet (npm run demo)", () => {
  it("delivers each seeded reminder once, the drip campaign's first step to each demo lead, and stops cleanly on Ctrl-C", async () => {
    const demo = startApp("apps/demo/src/main.ts", {
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      SIMULATOR_PORT: String(await freePort()),
      API_PORT: String(await freePort()),
      SCHEDULER_INTERVAL_MS: "1000",
    });
    const summary = await demo.waitForLine(/reminders settled/, 60_000);
    expect(summary).toMatch(/^4 reminders settled; 4 recipients reached, 0 of them more than once\./);
    expect(demo.output.filter((l) => /✔ .* sent; the provider accepted 1 message\(s\)/.test(l))).toHaveLength(4);
    // The demo campaign's first step has no delay: each of the three demo leads gets it (the next two follow minutes apart).
    for (const lead of ["Mary Jackson", "Dorothy Vaughan", "Hedy Lamarr"]) {
      await demo.waitForLine(new RegExp(`✔ ${lead} +drip step hello \\(SMS\\) to \\+1555\\d+ sent`), 30_000);
    }
    expect(await demo.kill("SIGINT")).toBe(0);
    expect(demo.output).toContain("stopped.");
  });
});
