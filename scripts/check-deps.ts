/**
 * Dependency direction, checked before the tests (as bullmq runs madge before its own), in every folder: the apps and
 * packages, the e2e, chaos and bench workspaces (the root package.json's workspaces) and scripts/.
 *  - apps import packages, never the other way; nothing imports another workspace's internals (`@nudge/x/src/...`);
 *  - no relative import leaves its workspace: e2e, chaos, bench and scripts use an app only by its package name, that
 *    is through its index (`@nudge/scheduler`, `@nudge/worker`), never its files (`../../apps/worker/src/...`);
 *  - the domain core imports nothing that does I/O (no packages, no node:fs/net/http/child_process);
 *  - only @nudge/db imports Prisma or pg (the test harness may use pg to create databases; e2e, chaos and bench seed
 *    and inspect the database with pg from outside, as a check of the system, and ship nothing);
 *  - only @nudge/providers imports the vendor SDKs;
 *  - the client SDK (@nudge/client), which other teams' services install, imports no @nudge/* package and none of
 *    the SDKs Nudge runs on (vendor SDKs, BullMQ, ioredis, Prisma, pg) outside its tests;
 *  - one send guard: only @nudge/send-guard holds the claim ledger and the message providers and calls the claim and
 *    record operations, so every send is claimed before and recorded after (see SEND_GUARD below);
 *  - the test harness (@nudge/testing, a root devDependency) is imported by tests only (e2e and chaos are tests);
 *  - every imported package is declared in the importing workspace's package.json (scripts/: the root one), and the
 *    workspace graph has no cycle.
 *
 * `--root <dir>` checks another tree laid out like this one (e2e/test/check-deps.test.ts breaks a copy on purpose);
 * `--only <package name>` reports the problems of one workspace.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import ts from "typescript";

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  if (at < 0) return undefined;
  const value = process.argv[at + 1];
  if (value === undefined || value.startsWith("--")) {
    console.error(`${name} needs a value, e.g. ${name === "--root" ? "--root /tmp/nudge-copy" : "--only @nudge/worker"}`);
    process.exit(2);
  }
  return value;
}

const root = path.resolve(option("--root") ?? path.join(__dirname, ".."));
const only = option("--only");

const VENDOR = /^(twilio|@sendgrid\/|@hubspot\/)/;
const PRISMA = /^(@prisma\/|prisma$|pg$)/;
const IO_BUILTINS = /^(node:)?(fs|fs\/promises|net|http|https|child_process|dgram|tls|cluster|worker_threads)$/;
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;
/**
 * The client SDK runs in other teams' services, next to their own Prisma or pg and their own versions of everything:
 * it takes the database handle they give it by its shape, and nothing of Nudge's comes with it.
 */
const CLIENT = "@nudge/client";
const CLIENT_FORBIDDEN = /^(@nudge\/|twilio$|@sendgrid\/|@hubspot\/|bullmq$|ioredis$|@prisma\/|prisma$|pg$)/;

/**
 * One send guard. A message goes out exactly once only if every send is claimed first (a fencing token, in the
 * statement that checks cancel and deadline) and recorded after with that token; @nudge/send-guard is the one place
 * that does both, in that order. So only it may hold what can send or settle a delivery: the claim ledger, the
 * message providers, and the claim/record operations. The packages that define them may use them in their own src and
 * tests.
 */
const SEND_GUARD = "@nudge/send-guard";
const GUARDED_IMPORTS: ReadonlyMap<string, string> = new Map([
  ["ClaimLedger", "@nudge/db"],
  ["createMessageProviders", "@nudge/providers"],
  ["TwilioSmsProvider", "@nudge/providers"],
  ["TwilioVoiceProvider", "@nudge/providers"],
  ["SendGridEmailProvider", "@nudge/providers"],
]);
const GUARDED_CALLS: ReadonlyMap<string, string> = new Map(
  [
    "claimDelivery",
    "recordSent",
    "recordNotAccepted",
    "recordFailed",
    "recordUnknown",
    "releaseClaim",
    // The reconciler's resolutions of `unknown`: they settle or reopen a delivery, so they belong to the guard too.
    "resolveSent",
    "resolveFromReport",
    "reopenUnknown",
    "giveUpUnknown",
    "awaitOperator",
  ].map((m) => [m, "@nudge/db"]),
);
/**
 * Files that may use the message providers without the guard, each for a stated reason. Every entry is a way to send
 * that no claim protects: keep the list short, and never add production code to it.
 */
const UNGUARDED_PROVIDER_USERS: ReadonlyMap<string, string> = new Map([
  // The benchmark's baseline is what most teams write: a BullMQ job that sends with no ledger at all. Measuring the
  // guard's cost needs that unguarded peer, and it needs the same adapters, pointed at the provider simulator.
  ["bench/src/simulator-providers.ts", "builds the adapters for the bench's unsafe-peer baseline"],
  ["bench/src/sections/unsafe-peer.ts", "the bench's unsafe-peer baseline sends without a guard on purpose"],
]);
const SEND_GUARD_FIX = `one send guard: only ${SEND_GUARD} may claim, send and record; send through ${SEND_GUARD}`;

type Kind = "app" | "package" | "harness";
interface Workspace {
  dir: string;
  name: string;
  kind: Kind;
  manifest: string;
  deps: Set<string>;
}

const readJson = (file: string) => JSON.parse(readFileSync(file, "utf8"));
const declared = (pkg: { dependencies?: object; devDependencies?: object }) =>
  new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]);
const rootPkg = readJson(path.join(root, "package.json"));
const rootDeps = new Set(Object.keys(rootPkg.devDependencies ?? {}));

/** The root package.json's workspace patterns: `group/*` or a folder. A folder without package.json is not one. */
function workspaceDirs(patterns: string[]): string[] {
  return patterns.flatMap((pattern) => {
    if (!pattern.endsWith("/*")) return [pattern];
    const group = pattern.slice(0, -2);
    return existsSync(path.join(root, group)) ? readdirSync(path.join(root, group)).sort().map((d) => `${group}/${d}`) : [];
  });
}

const workspaces: Workspace[] = workspaceDirs(rootPkg.workspaces ?? [])
  .filter((dir) => existsSync(path.join(root, dir, "package.json")))
  .map((dir) => {
    const pkg = readJson(path.join(root, dir, "package.json"));
    const kind: Kind = dir.startsWith("apps/") ? "app" : dir.startsWith("packages/") ? "package" : "harness";
    return { dir, name: pkg.name, kind, manifest: `${dir}/package.json`, deps: declared(pkg) };
  });
// scripts/ is no workspace: its imports count against the root package.json.
workspaces.push({ dir: "scripts", name: "scripts/", kind: "harness", manifest: "the root package.json", deps: rootDeps });

const byName = new Map(workspaces.map((w) => [w.name, w]));
/** Test code from end to end: `npm test` runs both, so they may use the test harness (@nudge/testing) in any file. */
const TEST_WORKSPACES = new Set(["@nudge/e2e", "@nudge/chaos"]);
const sendGuardDir = byName.get(SEND_GUARD)?.dir;

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((entry) => {
      const full = path.join(dir, entry);
      if (entry === "generated" || entry === "node_modules" || entry === "dist" || entry.startsWith(".")) return [];
      if (statSync(full).isDirectory()) return files(full);
      return SOURCE.test(entry) && !entry.endsWith(".d.ts") ? [full] : [];
    });
}

const packageName = (spec: string) => (spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
const inside = (rel: string, dir: string) => rel === dir || rel.startsWith(`${dir}/`);
const owningWorkspace = (rel: string) => workspaces.find((w) => inside(rel, w.dir));

interface Use {
  line: number;
  spec?: string;
  /** Named bindings of an import or re-export (`a as b`: a). */
  names: string[];
  /** `export * from`: re-exports everything, guarded names included. */
  star?: boolean;
}

/** Imports, re-exports, require() and import() with a literal specifier, property uses and calls, from the syntax tree. */
function scan(file: string, text: string) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lineOf = (node: ts.Node) => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
  const imports: Use[] = [];
  const references: Use[] = [];
  const calls: Use[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const names: string[] = [];
      let star = false;
      if (ts.isImportDeclaration(node)) {
        const bindings = node.importClause?.namedBindings;
        if (bindings && ts.isNamedImports(bindings)) for (const e of bindings.elements) names.push((e.propertyName ?? e.name).text);
      } else if (node.exportClause && ts.isNamedExports(node.exportClause)) {
        for (const e of node.exportClause.elements) names.push((e.propertyName ?? e.name).text);
      } else {
        star = true;
      }
      imports.push({ line: lineOf(node), spec: node.moduleSpecifier.text, names, star });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      imports.push({ line: lineOf(node), spec: node.moduleReference.expression.text, names: [] });
    } else if (ts.isCallExpression(node)) {
      const [arg] = node.arguments;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === "require";
      if ((isRequire || node.expression.kind === ts.SyntaxKind.ImportKeyword) && arg && ts.isStringLiteralLike(arg)) {
        imports.push({ line: lineOf(node), spec: arg.text, names: [] });
      }
      // `x.recordSent(...)`, `x?.recordSent(...)`, `x["recordSent"](...)`, and `x.recordSent.call/apply/bind(...)`.
      let callee: ts.Expression = node.expression;
      if (ts.isPropertyAccessExpression(callee) && ["call", "apply", "bind"].includes(callee.name.text)) callee = callee.expression;
      const method = ts.isPropertyAccessExpression(callee)
        ? callee.name.text
        : ts.isElementAccessExpression(callee) && ts.isStringLiteralLike(callee.argumentExpression)
          ? callee.argumentExpression.text
          : undefined;
      if (method) calls.push({ line: lineOf(node), names: [method] });
    } else if (ts.isImportTypeNode(node) && node.qualifier) {
      // `import("@nudge/db").ClaimLedger` in a type position.
      const last = ts.isIdentifier(node.qualifier) ? node.qualifier : node.qualifier.right;
      references.push({ line: lineOf(node), names: [last.text] });
    } else if (ts.isPropertyAccessExpression(node)) {
      // `db.ClaimLedger` after `import * as db`, or `(await import("@nudge/db")).ClaimLedger`.
      references.push({ line: lineOf(node), names: [node.name.text] });
    } else if (ts.isBindingElement(node)) {
      // `const { ClaimLedger } = require("@nudge/db")`.
      const key = node.propertyName ?? node.name;
      if (ts.isIdentifier(key)) references.push({ line: lineOf(node), names: [key.text] });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { imports, references, calls };
}

/** Whether a file may use a guarded name that `owner` defines: the send guard itself, or the defining package. */
function mayUseGuarded(rel: string, owner: string): boolean {
  if (sendGuardDir && inside(rel, sendGuardDir)) return true;
  const ownerDir = byName.get(owner)?.dir;
  return ownerDir !== undefined && inside(rel, ownerDir);
}
const mayUseProvidersUnguarded = (rel: string) => UNGUARDED_PROVIDER_USERS.has(rel);

const problems: string[] = [];
const edges = new Map<string, Set<string>>();

// What the client's own imports may not use, its installers must not be made to install either.
const client = byName.get(CLIENT);
if (client) {
  for (const dep of Object.keys(readJson(path.join(root, client.manifest)).dependencies ?? {})) {
    if (CLIENT_FORBIDDEN.test(dep)) problems.push(`${client.manifest}: ${CLIENT} depends on ${dep}, which its installers would get too; if its tests need it, make it a devDependency`);
  }
}

for (const ws of workspaces) {
  edges.set(ws.name, new Set());
  for (const file of files(path.join(root, ws.dir))) {
    const rel = path.relative(root, file).split(path.sep).join("/");
    const isTest = TEST_WORKSPACES.has(ws.name) || /(^|\/)test\//.test(rel.slice(ws.dir.length)) || /\.test\.[a-z]+$/.test(rel);
    const { imports, references, calls } = scan(file, readFileSync(file, "utf8"));
    const firstOfFile = problems.length;

    for (const { line, spec, names, star } of imports) {
      const at = `${rel}:${line}`;
      if (spec!.startsWith(".")) {
        const target = path.relative(root, path.resolve(path.dirname(file), spec!)).split(path.sep).join("/");
        if (!inside(target, ws.dir)) {
          const other = owningWorkspace(target);
          const fix = other
            ? `import ${other.name}${other.kind === "app" ? " (its index; export what you need there)" : ""} and declare it in ${ws.manifest}`
            : "move what you need into a package";
          problems.push(`${at}: relative import ${spec} reaches outside ${ws.dir}/; ${fix}`);
        }
        continue;
      }
      const name = packageName(spec!.replace(/^node:/, ""));
      const isBuiltin = spec!.startsWith("node:") || builtinModules.includes(name);
      if (ws.name === "@nudge/core" && !isTest && (!isBuiltin || IO_BUILTINS.test(spec!))) {
        problems.push(`${at}: the domain core must not import ${spec} (it does no I/O and depends on nothing)`);
      }
      if (isBuiltin) continue;
      if (ws.name === CLIENT && !isTest && CLIENT_FORBIDDEN.test(name)) {
        problems.push(`${at}: ${CLIENT} is installed by other services and may not import ${spec} (no Nudge package, vendor SDK, BullMQ, ioredis, Prisma or pg); describe what it needs as a structural type`);
      }
      if (spec!.startsWith("@nudge/") && spec!.split("/").length > 2) {
        problems.push(`${at}: deep import ${spec}; import ${name} (its index${byName.get(name)?.kind === "app" ? "; export what you need there" : ""})`);
      }
      if (ws.kind === "package" && byName.get(name)?.kind === "app") problems.push(`${at}: a package must not import the app ${name}`);
      if (!isTest && ws.kind !== "harness" && PRISMA.test(spec!) && ws.name !== "@nudge/db" && ws.name !== "@nudge/testing") {
        problems.push(`${at}: only @nudge/db may import ${spec}`);
      }
      if (!isTest && VENDOR.test(spec!) && ws.name !== "@nudge/providers") problems.push(`${at}: only @nudge/providers may import the vendor SDK ${spec}`);
      if (!isTest && name === "@nudge/testing" && ws.name !== "@nudge/testing") problems.push(`${at}: @nudge/testing is for tests only`);
      if (!ws.deps.has(name) && !rootDeps.has(name) && name !== ws.name) problems.push(`${at}: imports ${name}, which ${ws.manifest} does not declare`);
      // Runtime graph only: a package's tests may use the test harness that depends on it.
      if (!isTest && name.startsWith("@nudge/") && name !== ws.name && byName.has(name)) edges.get(ws.name)!.add(name);

      if (!name.startsWith("@nudge/")) continue;
      for (const guarded of names) {
        const owner = GUARDED_IMPORTS.get(guarded);
        if (!owner || mayUseGuarded(rel, owner)) continue;
        if (owner === "@nudge/providers" && mayUseProvidersUnguarded(rel)) continue;
        problems.push(`${at}: imports ${guarded} from ${spec}; ${SEND_GUARD_FIX}`);
      }
      if (star && [...GUARDED_IMPORTS.values()].includes(name) && !mayUseGuarded(rel, name)) {
        problems.push(`${at}: re-exports all of ${spec}, what only the send guard may hold included; ${SEND_GUARD_FIX}`);
      }
    }
    for (const { line, names } of references) {
      const [used] = names as [string];
      const owner = GUARDED_IMPORTS.get(used);
      if (!owner || mayUseGuarded(rel, owner) || (owner === "@nudge/providers" && mayUseProvidersUnguarded(rel))) continue;
      problems.push(`${rel}:${line}: uses ${used} (${owner}); ${SEND_GUARD_FIX}`);
    }
    for (const { line, names } of calls) {
      const [method] = names as [string];
      const owner = GUARDED_CALLS.get(method);
      if (!owner || mayUseGuarded(rel, owner)) continue;
      problems.push(`${rel}:${line}: calls .${method}(), a claim/record operation; ${SEND_GUARD_FIX}`);
    }
    const lineOf = (problem: string) => Number(/^[^:]+:(\d+):/.exec(problem)?.[1] ?? 0);
    problems.push(...problems.splice(firstOfFile).sort((a, b) => lineOf(a) - lineOf(b)));
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

const onlyDir = only === undefined ? undefined : (byName.get(only)?.dir ?? "\0");
const relevant = onlyDir ? problems.filter((p) => p.startsWith(`${onlyDir}/`) || p.startsWith("dependency cycle")) : problems;
if (relevant.length) {
  console.error(`Dependency rules broken:\n  ${relevant.join("\n  ")}`);
  process.exit(1);
}
console.log(`dependency rules hold ${only ? `for ${only}` : `across ${workspaces.length - 1} workspaces and scripts/`}`);
