/**
 * The pass children's side of their protocol with runChildPasses (child-passes.ts): one JSON object per stdout line,
 * and after "done" the process stays alive until its stdin closes, so that the parent can still read its /proc.
 */

export function requiredEnv(name: string, startedBy: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required (this process is started by ${startedBy})`);
  return value;
}

export function emit(event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event) + "\n");
}

/** Says "done", then waits for the parent to close stdin. */
export function doneWhenReleased(): void {
  emit({ event: "done" });
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
}

export function exitOnFailure(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(`${name}: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  });
}
