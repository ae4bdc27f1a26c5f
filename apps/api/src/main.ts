import { runApi } from "./run-api";

runApi().catch((error: unknown) => {
  console.error(`api: ${(error as Error).message}`);
  process.exit(1);
});
