import { contactsByAddress, stopEnrollments } from "@nudge/campaigns";
import { maskRecipient } from "@nudge/core";
import type { Db } from "@nudge/db";
import type { FastifyBaseLogger } from "fastify";
import { stored } from "./http-errors";

/** What a stop condition did to a lead's drip enrollments, as the JSON routes answer it. */
export interface EnrollmentStops {
  enrollmentsStopped: number;
  /** Waiting steps that will now never go out. */
  stepsCancelled: number;
  /** Steps already claimed when the stop committed: each may still reach the lead, and cannot be recalled. */
  stepsInFlight: number;
  /** Said only when a step was in flight: "one message already in flight" (or "N messages"). */
  warning?: string;
}

export const NO_STOPS: EnrollmentStops = { enrollmentsStopped: 0, stepsCancelled: 0, stepsInFlight: 0 };

function inFlightWarning(count: number): string | undefined {
  if (count === 0) return undefined;
  return count === 1
    ? "one message already in flight: claimed before the stop, it may still reach the lead"
    : `${count} messages already in flight: claimed before the stop, they may still reach the lead`;
}

/** Adds up the stops of a batch (SendGrid posts many events at once), the warning recomputed from the sum. */
export function addStops(a: EnrollmentStops, b: EnrollmentStops): EnrollmentStops {
  const stepsInFlight = a.stepsInFlight + b.stepsInFlight;
  const warning = inFlightWarning(stepsInFlight);
  return {
    enrollmentsStopped: a.enrollmentsStopped + b.enrollmentsStopped,
    stepsCancelled: a.stepsCancelled + b.stepsCancelled,
    stepsInFlight,
    ...(warning && { warning }),
  };
}

/**
 * A stop condition met by an address (a reply, an opt-out): stops the drip enrollments in progress of every contact
 * with that phone number or email address, and cancels their waiting steps, in one transaction (see stopEnrollments).
 * Idempotent: an enrollment already stopped is left as it is, so a provider's retry or replay stops nothing twice.
 * A database failure is a 503, so that the provider tries again.
 */
export async function stopLeadEnrollments(
  db: Db,
  log: FastifyBaseLogger,
  address: { phone: string } | { email: string },
  reason: string,
): Promise<EnrollmentStops> {
  const masked = maskRecipient("phone" in address ? address.phone : address.email);
  const contactIds = await stored(() => contactsByAddress(db, address));
  if (contactIds.length === 0) {
    log.debug({ address: masked, reason }, "no contact has this address: no drip enrollment to stop");
    return NO_STOPS;
  }
  const result = await stored(() => stopEnrollments(db, { contactIds }, reason));
  const warning = inFlightWarning(result.inFlight.length);
  const stops: EnrollmentStops = {
    enrollmentsStopped: result.stopped.length,
    stepsCancelled: result.cancelled.length,
    stepsInFlight: result.inFlight.length,
    ...(warning && { warning }),
  };
  const line = { address: masked, reason, contacts: contactIds.length, enrollments: result.stopped, ...stops };
  if (result.stopped.length === 0 && result.inFlight.length === 0) {
    // The usual case for a patient answering a reminder: nobody's drip to stop, and nothing worth a line at info.
    log.debug(line, "no drip enrollment in progress for this address");
  } else if (warning) {
    log.warn(line, `drip enrollments stopped; ${warning}`);
  } else {
    log.info(line, "drip enrollments stopped");
  }
  return stops;
}
