import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * The dependency rules (scripts/check-deps.ts) guard what no test exercises, such as "only the send guard may send":
 * a check that cannot fail would let that erode in silence. So this breaks a copy of the repository, once per rule,
 * and expects the script to name each break; and it expects the repository itself to pass.
 */
const ROOT = path.resolve(__dirname, "../..");
const SCRIPT = path.join(ROOT, "scripts/check-deps.ts");
const COPIED = ["package.json", "apps", "packages", "e2e", "bench", "chaos", "scripts"];
const NOT_COPIED = /(^|\/)(node_modules|generated|\.git)(\/|$)/;

function checkDeps(root?: string): { status: number | null; output: string; problems: string[] } {
  const run = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, ...(root ? ["--root", root] : [])], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 50_000,
  });
  const output = `${run.stdout}${run.stderr}`;
  return { status: run.status, output, problems: output.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim()) };
}

let copy: string;

beforeAll(() => {
  copy = mkdtempSync(path.join(tmpdir(), "nudge-check-deps-"));
  for (const entry of COPIED) {
    cpSync(path.join(ROOT, entry), path.join(copy, entry), {
      recursive: true,
      filter: (src) => !NOT_COPIED.test(path.relative(ROOT, src).split(path.sep).join("/")),
    });
  }
});

afterAll(() => rmSync(copy, { recursive: true, force: true }));

test("the repository, and an untouched copy of it, pass", () => {
  for (const root of [undefined, copy]) {
    const result = checkDeps(root);
    expect(result.output).toMatch(/dependency rules hold across \d+ workspaces and scripts\//);
    expect(result.status).toBe(0);
  }
});

test("each injected violation fails the check, named with its file, line and fix", () => {
  const inject = (file: string, text: string) => writeFileSync(path.join(copy, file), text);
  // An app holding the claim ledger itself.
  inject("apps/scheduler/src/injected-claim-ledger.ts", 'import { ClaimLedger } from "@nudge/db";\n\nexport const Ledger = ClaimLedger;\n');
  // An app recording a send itself, through any object.
  inject(
    "apps/scheduler/src/injected-record.ts",
    'export async function settle(ledger: { recordSent(id: string, token: number, sid: string): Promise<boolean> }) {\n  return ledger.recordSent("d1", 1, "SM1");\n}\n',
  );
  // e2e reaching into an app's files instead of its index.
  inject("e2e/test/injected-internals.ts", 'import { createReminderWorker } from "../../apps/worker/src/reminder-worker";\n\nexport { createReminderWorker };\n');
  // The same through the package name.
  inject("chaos/src/injected-deep.ts", 'import { runWorker } from "@nudge/worker/src/run-worker";\n\nexport { runWorker };\n');
  // bench's allowlist covers its unsafe-peer baseline only, not the rest of bench.
  inject("bench/src/injected-providers.ts", 'import { createMessageProviders } from "@nudge/providers";\n\nexport { createMessageProviders };\n');

  const result = checkDeps(copy);

  expect(result.status).toBe(1);
  const guard = "one send guard: only @nudge/send-guard may claim, send and record; send through @nudge/send-guard";
  expect(result.problems).toEqual(
    expect.arrayContaining([
      `apps/scheduler/src/injected-claim-ledger.ts:1: imports ClaimLedger from @nudge/db; ${guard}`,
      `apps/scheduler/src/injected-record.ts:2: calls .recordSent(), a claim/record operation; ${guard}`,
      "e2e/test/injected-internals.ts:1: relative import ../../apps/worker/src/reminder-worker reaches outside e2e/; " +
        "import @nudge/worker (its index; export what you need there) and declare it in e2e/package.json",
      "chaos/src/injected-deep.ts:1: deep import @nudge/worker/src/run-worker; import @nudge/worker (its index; export what you need there)",
      `bench/src/injected-providers.ts:1: imports createMessageProviders from @nudge/providers; ${guard}`,
    ]),
  );
  // Nothing else: the copy passed before, so every problem is one of the injected files.
  expect(result.problems.filter((p) => !/injected-/.test(p))).toEqual([]);
});
