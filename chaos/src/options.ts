export interface ChaosOptions {
  /** Messages the workload asks for (each appointment escalates through the three plan steps: ~3 messages). */
  messages: number;
  /** Faults injected over the run, spread evenly, kinds in shuffled rounds so that every kind occurs. */
  faults: number;
  /** Seconds over which appointment starts are spread. */
  windowSeconds: number;
  workers: number;
  schedulers: number;
}

const QUICK: ChaosOptions = { messages: 3000, faults: 60, windowSeconds: 60, workers: 3, schedulers: 2 };

const USAGE = `usage: npm run chaos [-- [--quick] [--messages N] [--faults N] [--window SECONDS] [--workers N]]
  --quick       (default) ${QUICK.messages} messages, ${QUICK.faults} faults, a few minutes
  --messages N  messages in the workload (full mode: at least 100000)
  --faults N    faults to inject (full mode: at least 1000)
  --window S    seconds over which appointments start (default: enough for ~150 messages/s)`;

export function parseOptions(argv: readonly string[]): ChaosOptions {
  const options = { ...QUICK };
  let windowGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${flag} needs a positive whole number\n${USAGE}`);
      return v;
    };
    if (flag === "--quick") continue;
    else if (flag === "--messages") options.messages = value();
    else if (flag === "--faults") options.faults = value();
    else if (flag === "--window") {
      options.windowSeconds = value();
      windowGiven = true;
    } else if (flag === "--workers") options.workers = value();
    else throw new Error(`unknown option ${flag}\n${USAGE}`);
  }
  if (!windowGiven) options.windowSeconds = Math.max(QUICK.windowSeconds, Math.ceil(options.messages / 150));
  return options;
}
