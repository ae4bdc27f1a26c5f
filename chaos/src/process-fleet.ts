import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import path from "node:path";
import { RELAY_NODE_FLAGS } from "@nudge/relay";
import { processState } from "./proc-state";

export type AppName = "worker" | "scheduler" | "reconciler" | "api" | "relay";

interface Slot {
  app: AppName;
  index: number;
  child?: ChildProcess;
  /** What this app alone reads (the relay's sources), in every life. */
  appEnv: Record<string, string>;
  extraEnv: Record<string, string>;
  /** Added to the next life only (a failpoint that must not survive the restart after it). */
  nextLifeEnv?: Record<string, string>;
  restarting: boolean;
  /** Taken by a fault that needs this process for a while: other faults leave it alone until it is released. */
  held: boolean;
}

/** A process a fault holds (see `restartHeld`): its state, resuming it, and handing it back. */
export interface HeldProcess {
  name: string;
  pid: number;
  /** The /proc state letter, or undefined once this life is over. */
  state(): string | undefined;
  /** SIGCONT, only if this very life is still running (never a signal to a recycled pid). */
  resume(): void;
  /** SIGKILLs this life; the slot restarts without the next-life env. */
  kill(): void;
  release(): void;
}

const ROOT = path.resolve(__dirname, "../..");

/**
 * The fleet as real OS processes (`node --import tsx`, so that a SIGKILL reaches the app itself), each slot
 * restarted after it is killed, logs appended to one file per slot.
 */
export class ProcessFleet {
  private readonly slots: Slot[] = [];
  private readonly logs = new Map<string, WriteStream>();
  private stopping = false;

  constructor(
    private readonly env: Record<string, string>,
    private readonly logDir: string,
  ) {}

  /** Starts `count` processes of `app`, each with `appEnv` on top of the fleet's env in every life. */
  add(app: AppName, count: number, appEnv: Record<string, string> = {}): void {
    for (let i = 0; i < count; i++) {
      const slot: Slot = { app, index: this.slots.filter((s) => s.app === app).length, appEnv, extraEnv: {}, restarting: false, held: false };
      this.slots.push(slot);
      this.spawn(slot);
    }
  }

  /** SIGKILLs one running process of `app` and starts a fresh one after `restartAfterMs`, with `extraEnv` if given. */
  killOne(app: AppName, restartAfterMs: number, extraEnv?: Record<string, string>): boolean {
    const slot = this.pickAlive(app);
    if (!slot) return false;
    this.restart(slot, restartAfterMs, () => {
      if (extraEnv) slot.extraEnv = extraEnv;
    });
    return true;
  }

  /**
   * SIGKILLs one running process of `app` and starts a fresh one after `restartAfterMs` with `nextLifeEnv` added for
   * that life only, held from other faults until released. Resolves once the new process is spawned (undefined if
   * no process was free, or the fleet is stopping).
   */
  async restartHeld(app: AppName, restartAfterMs: number, nextLifeEnv: Record<string, string>): Promise<HeldProcess | undefined> {
    const slot = this.pickAlive(app);
    if (!slot) return undefined;
    slot.held = true;
    await new Promise<void>((resolve) => this.restart(slot, restartAfterMs, () => (slot.nextLifeEnv = nextLifeEnv), resolve));
    const child = slot.child;
    if (this.stopping || !child?.pid) {
      slot.held = false;
      return undefined;
    }
    const alive = () => slot.child === child && child.exitCode === null && child.signalCode === null;
    return {
      name: `${slot.app}-${slot.index}`,
      pid: child.pid,
      state: () => (alive() ? processState(child.pid!) : undefined),
      resume: () => {
        if (alive()) child.kill("SIGCONT");
      },
      kill: () => {
        // SIGKILL ends a stopped process too; ensureRunning() then restarts the slot without the next-life env.
        if (alive()) child.kill("SIGKILL");
      },
      release: () => {
        slot.held = false;
      },
    };
  }

  private pickAlive(app: AppName): Slot | undefined {
    const alive = this.slots.filter((s) => s.app === app && s.child && !s.restarting && !s.held);
    return alive[Math.floor(Math.random() * alive.length)];
  }

  private restart(slot: Slot, afterMs: number, beforeSpawn: () => void, spawned?: () => void): void {
    slot.restarting = true;
    slot.child!.kill("SIGKILL");
    setTimeout(() => {
      slot.restarting = false;
      beforeSpawn();
      if (!this.stopping) this.spawn(slot);
      spawned?.();
    }, afterMs);
  }

  /** One extra process for a single pass (`scheduler --once`): a duplicated cron run. */
  runOnce(app: AppName): void {
    this.launch(`${app}-once`, app, ["--once"], {});
  }

  running(app: AppName): number {
    return this.slots.filter((s) => s.app === app && s.child && s.child.exitCode === null && s.child.signalCode === null).length;
  }

  /** Restarts anything that died on its own (a process that exits without being killed is a finding, logged). */
  ensureRunning(): string[] {
    const revived: string[] = [];
    for (const slot of this.slots) {
      const c = slot.child;
      if (!slot.restarting && c && (c.exitCode !== null || c.signalCode !== null)) {
        revived.push(`${slot.app}-${slot.index} (exit ${c.exitCode ?? c.signalCode})`);
        this.spawn(slot);
      }
    }
    return revived;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            const c = s.child;
            if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.kill("SIGKILL"), 15_000);
            c.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            c.kill("SIGTERM");
          }),
      ),
    );
    for (const log of this.logs.values()) log.end();
  }

  private spawn(slot: Slot): void {
    slot.child = this.launch(`${slot.app}-${slot.index}`, slot.app, [], { ...slot.appEnv, ...slot.extraEnv, ...slot.nextLifeEnv });
    slot.nextLifeEnv = undefined;
  }

  private launch(name: string, app: AppName, args: string[], extraEnv: Record<string, string>): ChildProcess {
    let log = this.logs.get(name);
    if (!log) {
      log = createWriteStream(path.join(this.logDir, `${name}.log`), { flags: "a" });
      this.logs.set(name, log);
    }
    // The relay with its young generation, as deployed (apps/relay/src/young-generation.ts).
    const flags = app === "relay" ? RELAY_NODE_FLAGS : [];
    const child = spawn(process.execPath, [...flags, "--import", "tsx", path.join(ROOT, `apps/${app}/src/main.ts`), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NODE_ENV: "test", ...this.env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    return child;
  }
}
