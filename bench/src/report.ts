/**
 * The printed table. Rows go to stdout as soon as they are measured, so a long run shows its figures as it goes;
 * progress chatter goes to stderr. The caller prints the JSON object last, so `tail -1` of stdout is machine-readable.
 */

const WIDTHS = { section: 18, figure: 36, value: 18 };

export class Report {
  private headerPrinted = false;

  heading(title: string): void {
    this.header();
    process.stdout.write(`\n${title}\n`);
  }

  row(section: string, figure: string, value: string, note = ""): void {
    this.header();
    process.stdout.write(
      `${section.padEnd(WIDTHS.section)}${figure.padEnd(WIDTHS.figure)}${value.padStart(WIDTHS.value)}  ${note}`.trimEnd() + "\n",
    );
  }

  /** Loud on purpose: a wrong count means the figures next to it do not measure what they claim. */
  error(section: string, message: string): void {
    this.header();
    process.stdout.write(`${section.padEnd(WIDTHS.section)}!!! ERROR: ${message}\n`);
  }

  private header(): void {
    if (this.headerPrinted) return;
    this.headerPrinted = true;
    const line = `${"section".padEnd(WIDTHS.section)}${"figure".padEnd(WIDTHS.figure)}${"value".padStart(WIDTHS.value)}  note`;
    process.stdout.write(`${line}\n${"-".repeat(line.length + 40)}\n`);
  }
}

export function progress(message: string): void {
  process.stderr.write(`  · ${message}\n`);
}

export const fmt = {
  rate: (jobsPerSecond: number) => `${Math.round(jobsPerSecond).toLocaleString("en-US")} jobs/s`,
  seconds: (s: number) => `${s.toFixed(s < 10 ? 2 : 1)} s`,
  mb: (mb: number) => `${mb.toFixed(1)} MB`,
  ratio: (r: number | null) => (r === null ? "n/a" : r.toFixed(r < 0.1 ? 4 : 3)),
  count: (n: number) => n.toLocaleString("en-US"),
};

/** Rounded for the JSON line: three significant decimals are more than the noise allows. */
export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** What a figure should reach: printed next to it for the reader, never enforced. */
export interface Target {
  atLeast?: number;
  atMost?: number;
}

/** `target >= 0.7: met`, or MISSED in capitals so that a miss stands out in the table; "" without a figure or target. */
export function verdict(value: number | null, target: Target | undefined): string {
  if (value === null || !target) return "";
  if (target.atLeast !== undefined) return `target >= ${target.atLeast}: ${value >= target.atLeast ? "met" : "MISSED"}`;
  return `target <= ${target.atMost}: ${value <= (target.atMost ?? Infinity) ? "met" : "MISSED"}`;
}
