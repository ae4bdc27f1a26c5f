import { type Channel, type DeliveryState, interpretProviderStatus, normalizeAddress } from "@nudge/core";
import type { Pool } from "pg";
import { type Db, sqlPool } from "./client";

/** One report from a provider about a message: a Twilio status callback, a SendGrid event. */
export interface ProviderReport {
  provider: "twilio" | "sendgrid";
  /** Unique per report: SendGrid's sg_event_id; for Twilio, the message sid and status. A replay has the same key. */
  eventKey: string;
  /** From the callback URL or custom_args. Without it, the delivery is found by `providerMessageId`. */
  deliveryId?: number | undefined;
  providerMessageId?: string | undefined;
  status: string;
  /** The provider's reason (an error code, a bounce reason), kept with the report. */
  detail?: string | undefined;
}

export interface ReportOutcome {
  /** The same report was received before: nothing changed. */
  duplicate: boolean;
  /** The delivery the report is about, when one matches. */
  deliveryId?: number;
  /** The delivery moved or took the new status (false: an older or equal status, another message id, or no delivery). */
  applied: boolean;
  state?: DeliveryState;
}

/**
 * What the providers report: status callbacks and events applied to deliveries (only forwards, see
 * nudge_apply_provider_status in the reconciler migration), and the opt-out list the claim checks. The webhooks app
 * writes here; the reconciler and the dashboard read.
 */
export class EvidenceLedger {
  private readonly pool: Pool;

  constructor(db: Db) {
    this.pool = sqlPool(db);
  }

  /**
   * Records a report once and applies it to its delivery in the same transaction: a crash between the two cannot
   * leave a report that a replay would then skip as already seen.
   */
  async recordReport(report: ProviderReport): Promise<ReportOutcome> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const found = await client.query<{ id: number; channel: Channel }>(
        report.deliveryId !== undefined
          ? `SELECT id, channel::text AS channel FROM deliveries WHERE id = $1`
          : `SELECT id, channel::text AS channel FROM deliveries WHERE provider_message_id = $1 ORDER BY id LIMIT 1`,
        [report.deliveryId ?? report.providerMessageId ?? null],
      );
      const delivery = found.rows[0];
      const inserted = await client.query(
        `INSERT INTO provider_events (provider, event_key, delivery_id, provider_message_id, status, detail)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, event_key) DO NOTHING`,
        [report.provider, report.eventKey, delivery?.id ?? null, report.providerMessageId ?? null, report.status, report.detail ?? null],
      );
      if (inserted.rowCount === 0) {
        await client.query("COMMIT");
        return { duplicate: true, applied: false, ...(delivery && { deliveryId: delivery.id }) };
      }
      const meaning = delivery && interpretProviderStatus(delivery.channel, report.status);
      if (!delivery || !meaning) {
        await client.query("COMMIT");
        return { duplicate: false, applied: false, ...(delivery && { deliveryId: delivery.id }) };
      }
      const { rows } = await client.query<{ applied: boolean; state: DeliveryState }>(
        "SELECT * FROM nudge_apply_provider_status($1, $2, $3, $4, $5, $6)",
        [delivery.id, report.providerMessageId ?? null, meaning.status, meaning.outcome, meaning.rank, report.detail ?? null],
      );
      await client.query("COMMIT");
      return { duplicate: false, deliveryId: delivery.id, applied: rows[0]!.applied, state: rows[0]!.state };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Adds (or keeps) an opt-out for each channel; returns the channels newly suppressed. */
  async suppress(channels: readonly Channel[], address: string, reason: string, source: string): Promise<Channel[]> {
    const added: Channel[] = [];
    for (const channel of channels) {
      const r = await this.pool.query(
        `INSERT INTO suppressions (channel, address, reason, source) VALUES ($1::"Channel", $2, $3, $4)
         ON CONFLICT (channel, address) DO NOTHING`,
        [channel, normalizeAddress(channel, address), reason, source],
      );
      if (r.rowCount === 1) added.push(channel);
    }
    return added;
  }

  /** Lifts the opt-outs of this address on these channels (an opt-in keyword); returns the channels lifted. */
  async unsuppress(channels: readonly Channel[], address: string): Promise<Channel[]> {
    const { rows } = await this.pool.query<{ channel: Channel }>(
      `DELETE FROM suppressions WHERE channel = ANY($1::"Channel"[]) AND address = $2 RETURNING channel::text AS channel`,
      [channels, normalizeAddress(channels[0] ?? "sms", address)],
    );
    return rows.map((r) => r.channel);
  }
}
