import { mkdirSync } from "node:fs";
import path from "node:path";
import { createTestDatabase, deletePrefix, freePort, REPO_ROOT, startApp, TEST_REDIS_URL, testQueuePrefix, type AppProcess, type TestDatabase } from "@nudge/testing";
import { chromium, type Browser } from "playwright-core";

/**
 * Acceptance 1, as a person would do it: the demo fleet (`npm run demo`, with its demo data and the dashboard's demo
 * login) and a real headless Chromium (Debian's, at /usr/bin/chromium or CHROMIUM_PATH; playwright-core drives it,
 * no browser download). Log in, see the queues, search the ledger for a recipient, open their timeline, and keep a
 * screenshot of it in test-artifacts/ (git-ignored; docs/dashboard-timeline.png in the README is one of these).
 */
jest.setTimeout(150_000);

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = path.join(REPO_ROOT, "test-artifacts");
const ADA = "+15550100001";

let database: TestDatabase;
let demo: AppProcess;
let browser: Browser | undefined;
const prefix = testQueuePrefix();

beforeAll(async () => {
  database = await createTestDatabase();
  demo = startApp("apps/demo/src/main.ts", {
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    SIMULATOR_PORT: String(await freePort()),
    API_PORT: String(await freePort()),
    DASHBOARD_PORT: String(await freePort()),
    SCHEDULER_INTERVAL_MS: "1000",
  });
});

afterAll(async () => {
  await browser?.close();
  await demo?.kill("SIGINT");
  await deletePrefix(prefix).catch(() => undefined);
  await database?.drop();
});

test("log in, see the queues, search the ledger for a recipient, open their timeline, keep a screenshot", async () => {
  const line = await demo.waitForLine(/dashboard +http:\S+ +\(log in as \S+ \/ \S+;/, 60_000);
  const [, url, name, password] = /dashboard +(http:\S+) +\(log in as (\S+) \/ (\S+);/.exec(line)!;
  // Demo data: the reminders have settled (Ada Lovelace's call among them).
  await demo.waitForLine(/reminders settled/, 60_000);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();

  await page.goto(`${url!}/ledger`);
  expect(new URL(page.url()).pathname).toBe("/login");
  await page.fill('input[name="name"]', name!);
  await page.fill('input[name="password"]', password!);
  await Promise.all([page.waitForURL(`${url!}/ledger`), page.click('button[type="submit"]')]);
  expect(await page.textContent("header")).toContain(`${name} (operator)`);

  // Bull Board's own UI (a React page it serves), the operator's board: every queue of the catalog.
  await Promise.all([page.waitForURL(`${url!}/board/ops`), page.click("text=Queues (Bull Board)")]);
  for (const queue of ["reminders", "drips", "one-off-messages"]) await page.getByText(queue, { exact: true }).first().waitFor({ timeout: 15_000 });
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-bull-board.png") });
  await page.goto(`${url!}/ledger`);

  await page.fill('input[name="recipient"]', ADA);
  await Promise.all([page.waitForURL(/recipient=/), page.click("text=Search")]);
  const rows = page.locator("tbody tr");
  await expect(rows.count()).resolves.toBe(1);
  expect(await rows.first().textContent()).toContain("sent");

  await Promise.all([page.waitForURL(/\/timeline\?address=/), rows.first().getByRole("link", { name: ADA }).click()]);
  expect(await page.textContent("h1")).toBe(`Timeline of ${ADA}`);
  const timeline = await page.textContent("#timeline");
  expect(timeline).toContain("message created");
  expect(timeline).toContain("accepted by the provider");

  const file = path.join(ARTIFACTS, "dashboard-timeline.png");
  const png = await page.screenshot({ path: file, fullPage: true });
  expect(png.subarray(1, 4).toString()).toBe("PNG");
});
