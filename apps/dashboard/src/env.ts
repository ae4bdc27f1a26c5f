import { databaseEnv, logEnv, parseEnv, positiveInt, redisEnv, url } from "@nudge/config";
import { z } from "zod";

const flag = (fallback: "on" | "off") =>
  z
    .enum(["on", "off", "1", "0", "true", "false"], { message: "expected on or off" })
    .default(fallback)
    .transform((v) => v === "on" || v === "1" || v === "true");

const schema = z.object({
    ...databaseEnv,
    ...redisEnv,
    ...logEnv,
    DASHBOARD_PORT: positiveInt(3200).refine((port) => port <= 65535, { message: "expected a TCP port (1-65535)" }),
    /**
     * 127.0.0.1: the ops UI is for the people who run Nudge, reached through a VPN, an SSH tunnel or an internal proxy,
     * never where providers and callers reach (that is the webhooks app's 0.0.0.0). Set it wider on purpose.
     */
    DASHBOARD_HOST: z.string().min(1).default("127.0.0.1"),
    /**
     * The origin people open the dashboard at (scheme, host, port), e.g. https://ops.nudge.example.com. Every request
     * that is not a GET must carry it as its Origin: Bull Board's UI sends no CSRF token, so this is the CSRF check.
     * Default: http://127.0.0.1:<DASHBOARD_PORT>.
     */
    DASHBOARD_PUBLIC_URL: url(["https:", "http:"], "https://ops.nudge.example.com").optional(),
    /** Cookies are Secure unless this is off: only for a local demo over plain http. */
    DASHBOARD_SECURE_COOKIE: flag("on"),
    DASHBOARD_SESSION_TTL_MS: positiveInt(8 * 3600 * 1000),
    /** Local demo only (scripts/demo.sh sets it): with no user configured, create a demo operator and print its login. */
    DASHBOARD_DEMO_LOGIN: flag("off"),
    SHUTDOWN_GRACE_MS: positiveInt(10_000),
  });

export type DashboardEnv = z.infer<typeof schema> & { DASHBOARD_ORIGIN: string };

export function loadDashboardEnv(env: NodeJS.ProcessEnv = process.env): DashboardEnv {
  const parsed = parseEnv(schema, env);
  return { ...parsed, DASHBOARD_ORIGIN: new URL(parsed.DASHBOARD_PUBLIC_URL ?? `http://127.0.0.1:${parsed.DASHBOARD_PORT}`).origin };
}
