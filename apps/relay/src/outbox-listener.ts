import { OUTBOX_CHANNEL } from "@nudge/client";
import type { Logger } from "@nudge/logger";
import { outageRetryDelayMs } from "./outage-retry";
import type { SqlClient, SqlPool } from "./sql-pool";

/**
 * One connection per caller's database, held for LISTEN: a commit of new outbox rows wakes the relay at once. When
 * the connection drops (a Postgres restart, a network cut), it reconnects with backoff and wakes the relay once
 * connected again, since rows may have been committed while nobody listened. Notifications are a hint, never the
 * record: the relay's poll finds whatever a lost notification would have announced.
 */
export class OutboxListener {
  private client: SqlClient | undefined;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: SqlPool["pool"],
    private readonly onNotify: () => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    // Destroyed, not returned to the pool: a connection that LISTENs must not serve a transaction later.
    client?.release(true);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let client: SqlClient | undefined;
    try {
      client = await this.pool.connect();
      const held = client;
      let lost = false;
      const onLost = (error?: Error) => {
        if (lost || this.client !== held) return;
        lost = true;
        this.client = undefined;
        held.release(true);
        if (this.stopped) return;
        this.logger.warn({ err: error?.message ?? "connection ended" }, "outbox LISTEN connection lost; reconnecting");
        this.retry();
      };
      client.on("notification", () => this.onNotify());
      client.on("error", onLost);
      client.on("end", () => onLost());
      this.client = client;
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
      if (this.failures > 0) this.logger.info({ after: this.failures }, "outbox LISTEN connection restored");
      this.failures = 0;
      this.onNotify();
    } catch (error) {
      if (client && this.client === client) {
        this.client = undefined;
        client.release(true);
      }
      if (this.stopped) return;
      this.logger.warn({ err: (error as Error).message }, "outbox LISTEN failed; retrying");
      this.retry();
    }
  }

  private retry(): void {
    this.failures++;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), outageRetryDelayMs(this.failures));
  }
}
