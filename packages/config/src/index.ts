export { parseEnv } from "./parse-env";
export { url, positiveInt, databaseEnv, redisEnv, logEnv, providerEnv } from "./env-fields";
