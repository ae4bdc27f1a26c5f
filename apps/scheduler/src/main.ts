import { runScheduler } from "./run-scheduler";

runScheduler({ once: process.argv.includes("--once") }).catch((error: unknown) => {
  console.error(`scheduler: ${(error as Error).message}`);
  process.exit(1);
});
