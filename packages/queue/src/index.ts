export { JOBS, reminderPayload } from "./catalog";
export type { JobContract, JobKind, PayloadOf, ReminderPayload } from "./catalog";
export { parsePayload } from "./payload";
export { createRedis } from "./connection";
export type { Redis } from "./connection";
export { BACKOFF_TYPE, backoffDelay } from "./backoff";
export { createReminderQueue, enqueueReminders, reminderJobOptions } from "./reminder-queue";
export { deleteQueueKeys } from "./delete-queue-keys";
export { checkRedis, RedisUnavailableError } from "./preflight";
