import { readFileSync } from "node:fs";
import path from "node:path";

/** The package as another service installs it: what its manifest promises, and the two shipped schema files agreeing. */

const packageDir = path.join(__dirname, "..");
const manifest = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8"));

test("the exports map reaches the entry point and the shipped SQL and Prisma files", () => {
  for (const spec of ["@nudge/client", "@nudge/client/sql/001_nudge_outbox.sql", "@nudge/client/prisma/nudge-outbox.prisma", "@nudge/client/package.json"]) {
    expect(path.relative(packageDir, require.resolve(spec))).not.toMatch(/^\.\./);
  }
});

test("it depends on zod alone and ships its schema files, README and licence", () => {
  expect(Object.keys(manifest.dependencies)).toEqual(["zod"]);
  expect(manifest.license).toBe("MIT");
  expect(manifest.files).toEqual(expect.arrayContaining(["dist", "sql", "prisma", "README.md", "LICENSE"]));
});

test("the Prisma model maps every column of the SQL migration", () => {
  const sql = readFileSync(path.join(packageDir, "sql", "001_nudge_outbox.sql"), "utf8");
  const model = readFileSync(path.join(packageDir, "prisma", "nudge-outbox.prisma"), "utf8");
  const table = /CREATE TABLE IF NOT EXISTS nudge_outbox \(([\s\S]*?)\n\);/.exec(sql)![1]!;
  const columns = [...table.matchAll(/^\s{2}([a-z_]+) [A-Z]/gm)].map((m) => m[1]!).filter((c) => c !== "CONSTRAINT");
  // Each field's column: its @map, or its own name.
  const mapped = [...model.matchAll(/^ {2}([a-zA-Z]+) .*$/gm)].map(([line, field]) => /@map\("([a-z_]+)"\)/.exec(line)?.[1] ?? field!);

  expect(columns).toEqual(["id", "source", "idempotency_key", "kind", "subject", "subject_version", "payload", "created_at", "relayed_at", "attempts", "last_error"]);
  expect(mapped).toEqual(columns);
  expect(model).toContain('@@unique([source, idempotencyKey], map: "nudge_outbox_source_key")');
  expect(model).toContain('@@map("nudge_outbox")');
});
