import { logEnv, parseEnv, positiveInt, redisEnv, url } from "@nudge/config";
import { z } from "zod";

const schema = z.object({
  ...redisEnv,
  ...logEnv,
  // The demo owns its database: it is reset and re-seeded on every start.
  DATABASE_URL: url(["postgres:", "postgresql:"], "postgresql://postgres@127.0.0.1:5432/nudge_demo").default(
    "postgresql://postgres@127.0.0.1:5432/nudge_demo",
  ),
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default("nudge-demo"),
  SIMULATOR_PORT: positiveInt(4010),
  /** The webhooks app (apps/api): the simulator's status callbacks, events and inbound SMS go there. */
  API_PORT: positiveInt(3100),
  SCHEDULER_INTERVAL_MS: positiveInt(5_000),
  /** The ops dashboard (apps/dashboard), with a demo login it prints. */
  DASHBOARD_PORT: positiveInt(3200),
});

export type DemoEnv = z.infer<typeof schema>;
export const loadDemoEnv = (env: NodeJS.ProcessEnv = process.env): DemoEnv => parseEnv(schema, env);
