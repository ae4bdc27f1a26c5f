import { startSimulator } from "./server";

// The CLI is the edge: the only place this package reads the environment.
function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 4010;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(JSON.stringify({ level: "fatal", msg: `SIMULATOR_PORT must be an integer 0-65535, got "${raw}"` }));
    process.exit(1);
  }
  return port;
}

async function main(): Promise<void> {
  const log = (entry: Record<string, unknown>): void => console.log(JSON.stringify({ app: "simulator", ...entry }));
  const sim = await startSimulator({
    port: parsePort(process.env.SIMULATOR_PORT),
    host: process.env.SIMULATOR_HOST || "127.0.0.1",
    ...(process.env.TWILIO_AUTH_TOKEN && { twilioAuthToken: process.env.TWILIO_AUTH_TOKEN }),
    log,
  });
  log({ msg: "provider simulator listening", url: sim.url, port: sim.port });
  const stop = (signal: string): void => {
    log({ msg: "shutting down", signal });
    void sim.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}

main().catch((err: unknown) => {
  console.error(JSON.stringify({ app: "simulator", level: "fatal", msg: (err as Error).message }));
  process.exit(1);
});
