import { readFileSync } from "node:fs";

/**
 * The one-letter state of a Linux process from /proc/<pid>/stat (`R` running, `S` sleeping, `T` stopped, `Z`
 * zombie...), or undefined when it is gone. The command name in parentheses may itself contain spaces or
 * parentheses, so the state is read after the last `)`.
 */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Polls a process's state (`processState` of one process's life) until it is stopped (SIGSTOP: `T`); false when
 * the deadline passes or the process is gone first.
 */
export async function waitUntilStopped(state: () => string | undefined, timeoutMs: number, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = state();
    if (current === "T") return true;
    if (current === undefined || current === "Z" || Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
