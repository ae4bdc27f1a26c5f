export interface ChaosOptions {
  /** Reminder messages the workload asks for (each appointment escalates through the three plan steps: ~3 messages). */
  messages: number;
  /** Faults injected over the run, spread evenly over the storms, kinds in shuffled rounds so that every kind occurs. */
  faults: number;
  /** Seconds over which appointment starts are spread. */
  windowSeconds: number;
  /**
   * Workload contacts also enrolled in the chaos drip campaign (drip-workload.ts), over the run: each lead owes every
   * step of the campaign. Default: one per 15 messages (200 in quick mode).
   */
  leads: number;
  /**
   * Users the example signup service signs up over the run (outbox-workload.ts), a tenth of them rolled back: each
   * committed one owes a welcome email, relayed from the service's outbox. Default: one per 10 messages (300 in quick
   * mode).
   */
  signups: number;
  workers: number;
  schedulers: number;
  /**
   * The run alternates storms (faults, evenly spread) and calms (none): each storm is followed by a calm of
   * `calmSeconds`. Messages owed entirely in a calm are the control group that no fault excuses (checks.ts), so a
   * calm must outlast a fault's aftermath plus the longest step lead for the group to be non-empty.
   */
  storms: number;
  calmSeconds: number;
}

/** Drip leads per reminder messages, by default: 200 leads (800 drip steps) beside quick mode's 3,000 reminders. */
const MESSAGES_PER_LEAD = 15;
/** Signups per reminder messages, by default: 300 beside quick mode's 3,000 reminders. */
const MESSAGES_PER_SIGNUP = 10;
/** 30 s of aftermath + the email's 60 s lead + a margin: the shortest calm in which a whole email is owed. */
const MIN_CALM_SECONDS = 100;
/** Storm and calm together, at most: long runs get several storms, so that recovery is tested more than once. */
const CYCLE_SECONDS = 600;

const QUICK: ChaosOptions = { messages: 3000, faults: 60, windowSeconds: 120, leads: 200, signups: 300, workers: 3, schedulers: 2, storms: 1, calmSeconds: MIN_CALM_SECONDS };

const USAGE = `usage: npm run chaos [-- [--quick] [--messages N] [--leads N] [--signups N] [--faults N] [--window SECONDS] [--workers N] [--storms N] [--calm SECONDS]]
  --quick       (default) ${QUICK.messages} messages, ${QUICK.leads} drip leads, ${QUICK.signups} signups, ${QUICK.faults} faults, a few minutes
  --messages N  reminder messages in the workload (full mode: at least 100000)
  --leads N     contacts enrolled in the drip campaign over the run (default: one per ${MESSAGES_PER_LEAD} messages)
  --signups N   users the example signup service signs up over the run (default: one per ${MESSAGES_PER_SIGNUP} messages)
  --faults N    faults to inject (full mode: at least 1000)
  --window S    seconds over which appointments start (default: enough for ~60 messages/s)
  --storms N    fault storms, each followed by a calm (default: one per ${CYCLE_SECONDS} s of run)
  --calm S      seconds of calm after each storm (default ${MIN_CALM_SECONDS})`;

export function parseOptions(argv: readonly string[]): ChaosOptions {
  const options = { ...QUICK };
  let windowGiven = false;
  let stormsGiven = false;
  let leadsGiven = false;
  let signupsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${flag} needs a positive whole number\n${USAGE}`);
      return v;
    };
    if (flag === "--quick") continue;
    else if (flag === "--messages") options.messages = value();
    else if (flag === "--leads") {
      options.leads = value();
      leadsGiven = true;
    } else if (flag === "--signups") {
      options.signups = value();
      signupsGiven = true;
    } else if (flag === "--faults") options.faults = value();
    else if (flag === "--window") {
      options.windowSeconds = value();
      windowGiven = true;
    } else if (flag === "--workers") options.workers = value();
    else if (flag === "--storms") {
      options.storms = value();
      stormsGiven = true;
    } else if (flag === "--calm") options.calmSeconds = value();
    else throw new Error(`unknown option ${flag}\n${USAGE}`);
  }
  if (!windowGiven) options.windowSeconds = Math.max(QUICK.windowSeconds, Math.ceil(options.messages / 60));
  if (!leadsGiven) options.leads = Math.ceil(options.messages / MESSAGES_PER_LEAD);
  if (!signupsGiven) options.signups = Math.ceil(options.messages / MESSAGES_PER_SIGNUP);
  if (!stormsGiven) options.storms = Math.max(1, Math.round(options.windowSeconds / CYCLE_SECONDS));
  return options;
}

/**
 * When to inject each fault between `from` and `to` (ms since the epoch): the span is cut into `storms` equal
 * cycles, each a storm with its share of the faults at evenly spread moments, then a calm of `calmSeconds`. Also
 * returns the calms, for the log. Throws when the span is too short to hold the calms.
 */
export function faultSchedule(options: ChaosOptions, from: number, to: number): { at: number[]; calms: Array<[number, number]> } {
  const cycle = (to - from) / options.storms;
  const storm = cycle - options.calmSeconds * 1000;
  if (storm < cycle / 4) {
    throw new Error(
      `a span of ${Math.round((to - from) / 1000)} s cannot hold ${options.storms} storms each followed by ${options.calmSeconds} s of calm: ` +
        `use a longer --window, fewer --storms or a shorter --calm`,
    );
  }
  const at: number[] = [];
  const calms: Array<[number, number]> = [];
  for (let c = 0; c < options.storms; c++) {
    const start = from + c * cycle;
    const share = Math.floor(options.faults / options.storms) + (c < options.faults % options.storms ? 1 : 0);
    for (let f = 0; f < share; f++) at.push(start + (f * storm) / share);
    calms.push([start + storm, start + cycle]);
  }
  return { at, calms };
}
