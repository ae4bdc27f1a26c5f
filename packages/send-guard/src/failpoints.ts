/**
 * Named points of the send protocol where crash and race tests act on a worker for real (see the worker's
 * NUDGE_FAILPOINT, and the in-process tests that hold a guard at a point while a cancel commits). A hook may return
 * a promise: the guard waits for it.
 */
export const FAILPOINTS = ["after-crm-update", "after-db-advance", "before-claim", "after-claim", "after-send"] as const;
export type Failpoint = (typeof FAILPOINTS)[number];
export type FailpointHook = (name: Failpoint) => void | Promise<void>;

export const noFailpoints: FailpointHook = () => undefined;
