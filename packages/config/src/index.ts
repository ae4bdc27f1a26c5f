export { parseEnv } from "./parse-env";
export { url, positiveInt, databaseEnv, redisEnv, logEnv, providerEnv, planEnv, clockSkewEnv } from "./env-fields";
export { messageProvidersFromEnv } from "./message-providers";
export type { MessageProviderEnv } from "./message-providers";
