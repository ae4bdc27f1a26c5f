import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "../../..");

export interface AppProcess {
  child: ChildProcess;
  /** Every line the process printed so far (stdout and stderr). */
  output: string[];
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited: Promise<number | string>;
  /** Resolves with the first line matching, rejects after timeoutMs or if the process exits first. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Starts one of the apps (or any .ts entry point) as a real OS process, so that crash tests can SIGKILL it. */
export function startApp(entry: string, env: Record<string, string>, args: string[] = []): AppProcess {
  // `node --import tsx`, not the tsx binary: the binary runs the program in a child process, so a SIGKILL sent to
  // it would leave the real worker running.
  // The scheduler within its heap budget, as every launcher Nudge ships starts it (apps/scheduler/src/heap-budget.ts):
  // the suites' passes then show that the budget is enough. The relay with its young generation
  // (apps/relay/src/young-generation.ts), as deployed.
  const flags = entry.endsWith("apps/scheduler/src/main.ts")
    ? ["--max-old-space-size=128"]
    : entry.endsWith("apps/relay/src/main.ts")
      ? ["--max-semi-space-size=64"]
      : [];
  const child = spawn(process.execPath, [...flags, "--import", "tsx", path.resolve(REPO_ROOT, entry), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NODE_ENV: "test", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const listeners = new Set<(line: string) => void>();
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line) continue;
      output.push(line);
      for (const l of listeners) l(line);
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });

  const waitForLine = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const seen = output.find((l) => pattern.test(l));
      if (seen) return resolve(seen);
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`No line matching ${pattern} within ${timeoutMs} ms. Output:\n${output.slice(-30).join("\n")}`));
      }, timeoutMs);
      const listener = (line: string) => {
        if (!pattern.test(line)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(line);
      };
      listeners.add(listener);
      void exited.then((code) => {
        if (!listeners.has(listener)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        reject(new Error(`Process exited (${code}) before printing ${pattern}. Output:\n${output.slice(-30).join("\n")}`));
      });
    });

  const kill = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return { child, output, exited, waitForLine, kill };
}

/** Polls until `check` returns a value other than undefined, or fails with `what` after timeoutMs. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface CommandRun {
  /** The exit code, or the signal's name. */
  code: number | string;
  /** Every non-empty line the process printed, stdout and stderr together. */
  lines: string[];
  ms: number;
}

/**
 * Runs a command (a bin, `npm`, ...) from the repository root to its exit, with a clean environment plus `env`. The
 * deadline, well past any criterion, only keeps a hung command from hanging the test.
 */
export function runCommand(command: string, args: string[], env: Record<string, string>, deadlineMs = 60_000): Promise<CommandRun> {
  const started = performance.now();
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const chunks: string[] = [];
  child.stdout!.on("data", (d: Buffer) => chunks.push(d.toString("utf8")));
  child.stderr!.on("data", (d: Buffer) => chunks.push(d.toString("utf8")));
  return new Promise((resolve) => {
    const guard = setTimeout(() => child.kill("SIGKILL"), deadlineMs);
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      const lines = chunks.join("").split("\n").filter((l) => l.trim() !== "");
      resolve({ code: code ?? signal ?? "unknown", lines, ms: Math.round(performance.now() - started) });
    });
  });
}
