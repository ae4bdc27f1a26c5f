import { reminderText } from "@nudge/core";
import { loadReminderTarget } from "@nudge/db";
import { Queue, Worker } from "bullmq";
import type { BenchConfig } from "../bench-config";
import { poolSizeFor, withBenchEnv } from "../bench-env";
import { meterDrain } from "../drain-meter";
import { acceptedBySimulator } from "../nudge-fleet";
import { fmt, progress, round, type Report } from "../report";
import { seedDueSmsAppointments } from "../seed";
import { unguardedSimulatorProviders } from "../simulator-providers";

export interface UnsafePeerResult {
  jobs: number;
  concurrency: number;
  jobs_per_s: number;
  sms_accepted: number;
}

const SECTION = "unsafe peer";

/**
 * What most teams write: a BullMQ job that reads the appointment, updates HubSpot and sends the SMS through the same
 * adapters, with no ledger (no delivery row, no claim, no record), so a retry or a duplicate trigger sends again.
 * It reads the appointment and contact from Postgres exactly as the Nudge worker does, so that nudge_vs_unsafe
 * isolates the cost of the ledger rather than of having data at all.
 */
export async function unsafePeer(config: BenchConfig, report: Report): Promise<UnsafePeerResult> {
  return withBenchEnv(config, { poolSize: poolSizeFor(config.concurrency) }, async (env) => {
    progress(`${SECTION}: seeding ${fmt.count(config.messages)} appointments`);
    await seedDueSmsAppointments(env.sql, config.messages);
    const queue = new Queue("bench-unsafe", { connection: env.redis, prefix: env.prefix });
    const { sms, crm } = unguardedSimulatorProviders(env.sim.url);
    try {
      for (let from = 1; from <= config.messages; from += 1_000) {
        const batch = [];
        for (let id = from; id < Math.min(from + 1_000, config.messages + 1); id++) {
          batch.push({ name: "send-reminder", data: { appointmentId: id }, opts: { jobId: `appt-${id}`, attempts: 8 } });
        }
        await queue.addBulk(batch);
      }

      const worker = new Worker(
        "bench-unsafe",
        async (job) => {
          const { appointmentId } = job.data as { appointmentId: number };
          const target = await loadReminderTarget(env.db, appointmentId);
          if (!target?.contact.phone || !target.contact.hubspotId) throw new Error(`appointment ${appointmentId} has no phone or HubSpot id`);
          const text = reminderText({ name: target.contact.name, startsAt: target.startsAt, timezone: target.contact.timezone, channel: "sms" });
          // The same CRM write as Nudge's: by the stored HubSpot id (falling back to email or phone when it is gone).
          const { id, name, email, phone, hubspotId } = target.contact;
          await crm.upsertContact(
            { contactId: id, crmId: hubspotId, name, email, phone },
            { nudge_next_appointment_at: target.startsAt.toISOString(), nudge_last_reminder_step: "2", nudge_last_reminder_channel: "sms" },
          );
          await sms.send({ deliveryId: appointmentId, channel: "sms", to: target.contact.phone, body: text.body });
        },
        { connection: env.redis, prefix: env.prefix, concurrency: config.concurrency },
      );
      try {
        const drain = await meterDrain(worker, config.messages, SECTION);
        const accepted = acceptedBySimulator(env);
        report.row(SECTION, `drain, CRM + SMS, no ledger (c=${config.concurrency})`, fmt.rate(drain.jobsPerSecond), `first to last completion, ${fmt.seconds(drain.seconds)}`);
        report.row(SECTION, "SMS accepted by the simulator", fmt.count(accepted.sms), `expected ${fmt.count(config.messages)}`);
        if (accepted.sms !== config.messages) report.error(SECTION, `the simulator accepted ${accepted.sms} SMS for ${config.messages} jobs`);
        return { jobs: config.messages, concurrency: config.concurrency, jobs_per_s: round(drain.jobsPerSecond, 1), sms_accepted: accepted.sms };
      } finally {
        await worker.close();
      }
    } finally {
      await queue.close();
    }
  });
}
