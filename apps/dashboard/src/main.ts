import { runDashboard } from "./run-dashboard";

runDashboard()
  .then(({ url, demoLogin }) => {
    // The demo reads these two lines; they go to stdout, never to the JSON log.
    if (demoLogin) console.log(`dashboard demo login: ${demoLogin.name} / ${demoLogin.password} at ${url}`);
  })
  .catch((error: unknown) => {
    console.error(`dashboard: ${(error as Error).message}`);
    process.exit(1);
  });
