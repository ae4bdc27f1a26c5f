/**
 * Dependency direction, checked before the tests (as bullmq runs madge before its own):
 *  - apps import packages, never the other way; no package imports another package's internals (`@nudge/x/src/...`);
 *  - the domain core imports nothing that does I/O (no packages, no node:fs/net/http/child_process);
 *  - only @nudge/db imports Prisma or pg (the test harness may use pg to create databases);
 *  - only @nudge/providers imports the vendor SDKs;
 *  - the test harness (@nudge/testing, a root devDependency) is imported by tests only;
 *  - every imported package is declared in the importing workspace's package.json, and the workspace graph has no cycle.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(__dirname, "..");
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"|require\("([^"]+)"\)|import\("([^"]+)"\)/g;
const VENDOR = /^(twilio|@sendgrid\/|@hubspot\/)/;
const PRISMA = /^(@prisma\/|prisma$|pg$)/;
const IO_BUILTINS = /^(node:)?(fs|fs\/promises|net|http|https|child_process|dgram|tls|cluster|worker_threads)$/;

interface Workspace {
  dir: string;
  name: string;
  deps: Set<string>;
}

const workspaces: Workspace[] = ["apps", "packages"].flatMap((group) =>
  readdirSync(path.join(root, group)).map((d) => {
    const dir = path.join(group, d);
    const pkg = JSON.parse(readFileSync(path.join(root, dir, "package.json"), "utf8"));
    return { dir, name: pkg.name, deps: new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]) };
  }),
);
const rootPkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const rootDeps = new Set(Object.keys(rootPkg.devDependencies ?? {}));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (entry === "generated" || entry === "node_modules") return [];
    if (statSync(full).isDirectory()) return files(full);
    return full.endsWith(".ts") ? [full] : [];
  });
}

const onlyAt = process.argv.indexOf("--only");
const only = onlyAt > 0 ? process.argv[onlyAt + 1] : undefined;

const packageName = (spec: string) => (spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
const problems: string[] = [];
const edges = new Map<string, Set<string>>();

for (const ws of workspaces) {
  edges.set(ws.name, new Set());
  for (const sub of ["src", "test"]) {
    const dir = path.join(root, ws.dir, sub);
    try {
      statSync(dir);
    } catch {
      continue;
    }
    for (const file of files(dir)) {
      const rel = path.relative(root, file);
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[1] ?? m[2] ?? m[3]!;
        if (spec.startsWith(".")) continue;
        const name = packageName(spec.replace(/^node:/, ""));
        const isBuiltin = spec.startsWith("node:") || require("node:module").builtinModules.includes(name);
        if (ws.name === "@nudge/core" && sub === "src" && (!isBuiltin || IO_BUILTINS.test(spec))) {
          problems.push(`${rel}: the domain core must not import ${spec} (it does no I/O and depends on nothing)`);
        }
        if (isBuiltin) continue;
        if (spec.startsWith("@nudge/") && spec.split("/").length > 2) problems.push(`${rel}: deep import ${spec}; import from the package's index`);
        if (ws.dir.startsWith("packages") && spec.startsWith("@nudge/") && workspaces.find((w) => w.name === name)?.dir.startsWith("apps")) {
          problems.push(`${rel}: a package must not import the app ${name}`);
        }
        if (sub === "src" && PRISMA.test(spec) && ws.name !== "@nudge/db" && ws.name !== "@nudge/testing") {
          problems.push(`${rel}: only @nudge/db may import ${spec}`);
        }
        if (sub === "src" && VENDOR.test(spec) && ws.name !== "@nudge/providers") {
          problems.push(`${rel}: only @nudge/providers may import the vendor SDK ${spec}`);
        }
        if (sub === "src" && name === "@nudge/testing" && ws.name !== "@nudge/testing") {
          problems.push(`${rel}: @nudge/testing is for tests only`);
        }
        if (!ws.deps.has(name) && !rootDeps.has(name)) problems.push(`${rel}: imports ${name}, which ${ws.dir}/package.json does not declare`);
        // Runtime graph only: a package's tests may use the test harness that depends on it.
        if (sub === "src" && name.startsWith("@nudge/") && name !== ws.name) edges.get(ws.name)!.add(name);
      }
    }
  }
}

const visiting = new Set<string>();
const done = new Set<string>();
function visit(name: string, trail: string[]): void {
  if (done.has(name)) return;
  if (visiting.has(name)) {
    problems.push(`dependency cycle: ${[...trail, name].join(" -> ")}`);
    return;
  }
  visiting.add(name);
  for (const next of edges.get(name) ?? []) visit(next, [...trail, name]);
  visiting.delete(name);
  done.add(name);
}
for (const name of edges.keys()) visit(name, []);

const relevant = only ? problems.filter((p) => p.startsWith(workspaces.find((w) => w.name === only)?.dir ?? "\0") || p.startsWith("dependency cycle")) : problems;
if (relevant.length) {
  console.error(`Dependency rules broken:\n  ${relevant.join("\n  ")}`);
  process.exit(1);
}
console.log(`dependency rules hold ${only ? `for ${only}` : `across ${workspaces.length} workspaces`}`);
