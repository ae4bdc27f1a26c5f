import { databaseEnv, parseEnv, providerEnv, redisEnv } from "@nudge/config";
import { z } from "zod";

/**
 * The CLI reads only what it needs before handing over: the apps parse their own, fuller environment at start-up.
 * `nudge migrate` needs DATABASE_URL; `nudge worker` needs both URLs for the start-up check it runs on the worker's
 * behalf; `nudge hubspot setup` needs only HubSpot's token, base URL and the provider timeout.
 */
const migrateSchema = z.object({ ...databaseEnv });
const serversSchema = z.object({ ...databaseEnv, REDIS_URL: redisEnv.REDIS_URL });
const hubSpotSchema = z.object({
  HUBSPOT_ACCESS_TOKEN: providerEnv.HUBSPOT_ACCESS_TOKEN,
  HUBSPOT_BASE_URL: providerEnv.HUBSPOT_BASE_URL,
  PROVIDER_TIMEOUT_MS: providerEnv.PROVIDER_TIMEOUT_MS,
});

export function loadMigrateEnv(env: NodeJS.ProcessEnv = process.env): z.infer<typeof migrateSchema> {
  return parseEnv(migrateSchema, env);
}

export function loadServerUrls(env: NodeJS.ProcessEnv = process.env): z.infer<typeof serversSchema> {
  return parseEnv(serversSchema, env);
}

export function loadHubSpotEnv(env: NodeJS.ProcessEnv = process.env): z.infer<typeof hubSpotSchema> {
  return parseEnv(hubSpotSchema, env);
}
