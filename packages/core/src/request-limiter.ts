/**
 * Paces calls to a rate-limited API across every process that shares the budget (HubSpot counts requests per
 * private app token, whichever worker sends them). `acquire()` resolves once one more request fits the budget: it
 * waits rather than fails, since a request held back a moment costs nothing and a refused one costs a retry.
 */
export interface RequestLimiter {
  acquire(): Promise<void>;
}
