/** Time as the domain sees it. Production uses the system clock; tests and the chaos suite can skew or fix it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export function fixedClock(at: Date): Clock & { set(at: Date): void; advance(ms: number): void } {
  let current = at.getTime();
  return {
    now: () => new Date(current),
    set: (next) => {
      current = next.getTime();
    },
    advance: (ms) => {
      current += ms;
    },
  };
}

export function skewedClock(skewMs: number, base: Clock = systemClock): Clock {
  return { now: () => new Date(base.now().getTime() + skewMs) };
}
