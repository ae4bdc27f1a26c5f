import { runWorker } from "./run-worker";

runWorker().catch((error: unknown) => {
  console.error(`worker: ${(error as Error).message}`);
  process.exit(1);
});
