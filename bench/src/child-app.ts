import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "../..");

export interface ChildApp {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Every line printed so far, stdout and stderr. */
  readonly lines: string[];
  readonly exited: Promise<number | string>;
  onLine(listener: (line: string) => void): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code or signal. */
  stop(graceMs?: number): Promise<number | string>;
}

/**
 * Starts a TypeScript entry point as its own OS process with `node --import tsx`, not the tsx binary: the binary
 * runs the program in a grandchild, and /proc/<pid> would then measure tsx's launcher instead of the program.
 */
export function startChild(entry: string, env: Record<string, string>): ChildApp {
  const child = spawn(process.execPath, ["--import", "tsx", path.resolve(REPO_ROOT, entry)], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NODE_ENV: "production", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`Could not start ${entry}`);
  // Whatever happens to the bench, its children do not outlive it.
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);
  child.on("exit", () => process.off("exit", killOnExit));
  const lines: string[] = [];
  const listeners: ((line: string) => void)[] = [];
  const split = (stream: NodeJS.ReadableStream) => {
    let rest = "";
    stream.on("data", (chunk: Buffer) => {
      const parts = (rest + chunk.toString("utf8")).split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        for (const l of listeners) l(line);
      }
    });
  };
  split(child.stdout!);
  split(child.stderr!);
  const exited = new Promise<number | string>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")));
  return {
    pid: child.pid,
    child,
    lines,
    exited,
    onLine: (listener) => listeners.push(listener),
    stop: async (graceMs = 30_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
