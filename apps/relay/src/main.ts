import { runRelay } from "./run-relay";

runRelay().catch((error: unknown) => {
  console.error(`relay: ${(error as Error).message}`);
  process.exit(1);
});
