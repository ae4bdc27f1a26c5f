import { runReconciler } from "./run-reconciler";

runReconciler({ once: process.argv.includes("--once") }).catch((error: unknown) => {
  console.error(`reconciler: ${(error as Error).message}`);
  process.exit(1);
});
