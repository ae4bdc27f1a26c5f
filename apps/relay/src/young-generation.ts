import type { Logger } from "@nudge/logger";

/**
 * The relay's young generation: V8 semi-spaces of 64 MB, as every launcher Nudge ships starts it
 * (docker-compose.yml, `npm start -w @nudge/relay`, the test helpers, the chaos fleet, the benchmark):
 * `node --max-semi-space-size=64`, or `NODE_OPTIONS=--max-semi-space-size=64`.
 *
 * Why: a batch (1,000 rows, two in flight per source by default) stays alive across its round trips to both
 * databases and Redis, a few hundred milliseconds under load. With V8's default semi-spaces (16 MB) the relay fills
 * the young generation several times in that while, so almost every scavenge finds whole batches alive, copies them,
 * and promotes them into the old generation, where a mark-compact collects them again. With 64 MB a scavenge comes
 * about a third as often, for the same live batches. Measured on the benchmark's 44,000 rows (`npm run bench -- --only
 * relay` with `--trace-gc-nvp`): scavenge pauses 730 to 940 ms with 16 MB, 420 to 560 ms with 64 MB; the relay's
 * peak RSS about 60 MB higher (250 against 310 MB).
 */
export const RELAY_SEMI_SPACE_MB = 64;

/** The node flags that size it: for launchers (the test helpers, the chaos fleet, the benchmark). */
export const RELAY_NODE_FLAGS: readonly string[] = [`--max-semi-space-size=${RELAY_SEMI_SPACE_MB}`];

/**
 * The semi-space size this process was started with, in MB, from its node flags and NODE_OPTIONS (V8 does not report
 * it); undefined when neither sets it (V8's default, 16 MB on 64-bit).
 */
export function configuredSemiSpaceMb(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ""): number | undefined {
  const args = [...(nodeOptions.match(/\S+/g) ?? []), ...execArgv];
  let mb: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const match = /^--max[-_]semi[-_]space[-_]size(?:=(\d+))?$/.exec(args[i]!);
    if (!match) continue;
    const value = match[1] ?? args[i + 1];
    // The last one given wins, as for V8.
    if (value !== undefined && /^\d+$/.test(value)) mb = Number(value);
  }
  return mb;
}

/**
 * Says at start-up how the young generation is sized. V8's sizes cannot change once the process runs, so a relay
 * started without the flag (`nudge relay`, a launcher of one's own) can only say how to set it. Not a warning: it
 * costs CPU per row, not correctness.
 */
export function reportYoungGeneration(logger: Logger): void {
  const semiSpaceMb = configuredSemiSpaceMb();
  if (semiSpaceMb !== undefined && semiSpaceMb >= RELAY_SEMI_SPACE_MB) {
    logger.info({ semiSpaceMb }, "young generation sized");
    return;
  }
  logger.info(
    { semiSpaceMb: semiSpaceMb ?? "default", advisedMb: RELAY_SEMI_SPACE_MB },
    `young generation below the relay's size: batches are copied by more scavenges; start it with NODE_OPTIONS=--max-semi-space-size=${RELAY_SEMI_SPACE_MB}`,
  );
}
