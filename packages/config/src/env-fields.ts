import { DEFAULT_REMINDER_PLAN, parsePlan, type ReminderPlan } from "@nudge/core";
import { z } from "zod";

/** Building blocks for each app's env schema: one definition, one default, one description per variable. */

export const url = (protocols: readonly string[], example: string) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected a ${protocols.join(" or ")} URL such as ${example}` },
  );

export const positiveInt = (fallback: number) =>
  z.coerce
    .number({ message: "expected a whole number" })
    .int({ message: "expected a whole number" })
    .positive({ message: "expected a number above 0" })
    .default(fallback);

export const databaseEnv = {
  DATABASE_URL: url(["postgres:", "postgresql:"], "postgresql://postgres@127.0.0.1:5432/nudge"),
};

export const redisEnv = {
  REDIS_URL: url(["redis:", "rediss:"], "redis://127.0.0.1:6379").default("redis://127.0.0.1:6379"),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, { message: "expected letters, digits, _ or - (it prefixes every Redis key)" })
    .default("nudge"),
};

export const logEnv = {
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  NODE_ENV: z.enum(["production", "development", "test"]).default("production"),
};

const httpUrl = url(["http:", "https:"], "https://api.twilio.com");

export const providerEnv = {
  TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, { message: "expected AC followed by 32 hex digits" }),
  TWILIO_AUTH_TOKEN: z.string().min(8, { message: "expected the account's auth token" }),
  TWILIO_FROM_NUMBER: z.string().regex(/^\+[1-9]\d{6,14}$/, { message: "expected an E.164 number such as +15005550006" }),
  TWILIO_BASE_URL: httpUrl.optional(),
  TWILIO_STATUS_CALLBACK_URL: httpUrl.optional(),
  SENDGRID_API_KEY: z.string().min(8, { message: "expected a SendGrid API key" }),
  SENDGRID_FROM_EMAIL: z.email({ message: "expected an email address" }),
  SENDGRID_BASE_URL: httpUrl.optional(),
  HUBSPOT_ACCESS_TOKEN: z.string().min(8, { message: "expected a HubSpot private app token" }),
  HUBSPOT_BASE_URL: httpUrl.optional(),
  PROVIDER_TIMEOUT_MS: positiveInt(10_000),
};

/** The scheduler and the workers must agree on the plan: both read it from here. */
export const planEnv = {
  REMINDER_PLAN: z
    .string()
    .optional()
    .transform((text, ctx): ReminderPlan => {
      if (text === undefined) return DEFAULT_REMINDER_PLAN;
      try {
        return parsePlan(text);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    }),
};

/** Tests only (the chaos suite): run this process's clock ahead or behind by this many milliseconds. */
export const clockSkewEnv = {
  CLOCK_SKEW_MS: z.coerce.number({ message: "expected a number of milliseconds" }).int().default(0),
};
