export { runWorker } from "./run-worker";
export { createReminderWorker } from "./reminder-worker";
