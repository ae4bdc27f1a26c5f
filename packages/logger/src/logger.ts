import pino, { type Logger } from "pino";

export type { Logger };

/**
 * JSON logs with the app's name on every line. Secrets never reach a log line: auth headers and tokens are redacted
 * wherever they appear, and recipients are masked by the callers (see maskRecipient in @nudge/core).
 */
export function createLogger(app: string, level: string = "info"): Logger {
  return pino({
    level,
    base: { app },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        "authorization",
        "*.authorization",
        "headers.authorization",
        "*.headers.authorization",
        "token",
        "*.token",
        "authToken",
        "*.authToken",
        "apiKey",
        "*.apiKey",
        "accessToken",
        "*.accessToken",
      ],
      censor: "[redacted]",
    },
  });
}
