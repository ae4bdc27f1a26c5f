import type { Db } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { leaseFor, SendGuard, type SendGuardOptions } from "@nudge/send-guard";
import { simulatorProviderEnv, type Simulator } from "@nudge/simulator";

/** The providers' timeout of the in-process guards: short, so that a test's faults are judged within seconds. */
export const TEST_PROVIDER_TIMEOUT_MS = 1_000;

/** A send guard in the test's process, sending through the real SDKs to the simulator (no status callbacks). */
export function guardOnSimulator(db: Db, sim: Simulator, options: Partial<SendGuardOptions> = {}): SendGuard {
  const env = simulatorProviderEnv(sim.url);
  const timeoutMs = TEST_PROVIDER_TIMEOUT_MS;
  return new SendGuard({
    db,
    providers: {
      twilio: { accountSid: env.TWILIO_ACCOUNT_SID!, authToken: env.TWILIO_AUTH_TOKEN!, from: env.TWILIO_FROM_NUMBER!, baseUrl: sim.url, statusCallbackUrl: "http://127.0.0.1:9/cb", timeoutMs },
      sendgrid: { apiKey: env.SENDGRID_API_KEY!, from: env.SENDGRID_FROM_EMAIL!, baseUrl: sim.url, timeoutMs },
    },
    leaseMs: leaseFor(timeoutMs),
    providerTimeoutMs: timeoutMs,
    logger: createLogger("test", "silent"),
    ...options,
  });
}
