import { checkRequest } from "./nudge-request";
import { OUTBOX_TABLE } from "./outbox-migration";
import { type OutboxTransaction, statementRunner } from "./outbox-transaction";
import type { PayloadOf, RequestKind, VersionedKind } from "./request-kinds";
import { sourceNameSchema } from "./source-name";
import type { SubjectVersion } from "./subject-version";

export interface NudgeClientOptions {
  /** This service's source name, a slug such as "signup-service"; keys are unique per source. */
  source: string;
}

export interface VersionOptions {
  /** The subject's version: greater with every change the caller makes to it (see the README). */
  version: SubjectVersion;
}

/** Whether the row was written: false when this source already wrote a request under this key (a retry). */
export interface OutboxWriteResult {
  inserted: boolean;
}

/** A versioned kind takes its version; any other kind takes no options. */
export type RequestOptionsArgs<K extends RequestKind> = K extends VersionedKind ? [options: VersionOptions] : [];

type MessagePayload = PayloadOf<"message.send">;
export type EmailMessage = Omit<Extract<MessagePayload, { channel: "email" }>, "channel">;
export type SmsMessage = Omit<Extract<MessagePayload, { channel: "sms" }>, "channel" | "subject">;

export interface NudgeOutbox {
  /** Any request, its payload typed by its kind. */
  request<K extends RequestKind>(kind: K, key: string, payload: PayloadOf<K>, ...options: RequestOptionsArgs<K>): Promise<OutboxWriteResult>;
  /** A one-off email or SMS (`channel` says which). */
  sendMessage(key: string, payload: MessagePayload): Promise<OutboxWriteResult>;
  sendEmail(key: string, message: EmailMessage): Promise<OutboxWriteResult>;
  sendSms(key: string, message: SmsMessage): Promise<OutboxWriteResult>;
  /** Create an appointment, or reschedule it with a greater version. */
  scheduleAppointment(key: string, payload: PayloadOf<"appointment.schedule">, options: VersionOptions): Promise<OutboxWriteResult>;
  cancelAppointment(key: string, payload: PayloadOf<"appointment.cancel">, options: VersionOptions): Promise<OutboxWriteResult>;
  confirmAppointment(key: string, payload: PayloadOf<"appointment.confirm">, options: VersionOptions): Promise<OutboxWriteResult>;
  enrollLead(key: string, payload: PayloadOf<"lead.enroll">): Promise<OutboxWriteResult>;
  stopLead(key: string, payload: PayloadOf<"lead.stop">): Promise<OutboxWriteResult>;
}

export interface NudgeClient {
  readonly source: string;
  /**
   * Requests written through the caller's transaction: a pg client after BEGIN, or the `tx` of a Prisma interactive
   * transaction. The caller commits or rolls back; the requests go with its own rows either way.
   */
  outbox(tx: OutboxTransaction): NudgeOutbox;
}

/**
 * A retried write (same source and key) is a no-op, whatever its payload: the first write under a key is the request.
 * DO NOTHING rather than an error, so that a duplicate does not abort the caller's transaction.
 */
const INSERT = `INSERT INTO ${OUTBOX_TABLE} (source, idempotency_key, kind, subject, subject_version, payload)
VALUES ($1, $2, $3, $4, $5::bigint, $6::jsonb)
ON CONFLICT (source, idempotency_key) DO NOTHING`;

export function createNudgeClient(options: NudgeClientOptions): NudgeClient {
  const parsed = sourceNameSchema.safeParse(options?.source);
  if (!parsed.success) {
    throw new RangeError(`createNudgeClient: ${parsed.error.issues[0]!.message}; got ${JSON.stringify(options?.source)}`);
  }
  const source = parsed.data;

  return {
    source,
    outbox(tx: OutboxTransaction): NudgeOutbox {
      const run = statementRunner(tx);
      // Every check runs before the statement: a bad request throws without touching the transaction, which stays
      // usable (a failed statement would abort the caller's whole Postgres transaction).
      const write = async (kind: RequestKind, key: string, payload: unknown, version?: SubjectVersion): Promise<OutboxWriteResult> => {
        const request = checkRequest({ source, kind, key, payload, version, versionField: "options.version" });
        const values = [request.source, request.key, request.kind, request.subject, request.version?.toString() ?? null, JSON.stringify(request.payload)];
        try {
          return { inserted: (await run(INSERT, values)) > 0 };
        } catch (error) {
          throw explainMissingTable(error);
        }
      };
      return {
        request: (kind, key, payload, ...options) => write(kind, key, payload, (options[0] as VersionOptions | undefined)?.version),
        sendMessage: (key, payload) => write("message.send", key, payload),
        sendEmail: (key, message) => write("message.send", key, { ...message, channel: "email" }),
        sendSms: (key, message) => write("message.send", key, { ...message, channel: "sms" }),
        scheduleAppointment: (key, payload, options) => write("appointment.schedule", key, payload, options?.version),
        cancelAppointment: (key, payload, options) => write("appointment.cancel", key, payload, options?.version),
        confirmAppointment: (key, payload, options) => write("appointment.confirm", key, payload, options?.version),
        enrollLead: (key, payload) => write("lead.enroll", key, payload),
        stopLead: (key, payload) => write("lead.stop", key, payload),
      };
    },
  };
}

/** Postgres's undefined_table, as pg reports it and as Prisma passes it on in its message. */
function explainMissingTable(error: unknown): unknown {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const missing = code === "42P01" || (typeof message === "string" && message.includes(`"${OUTBOX_TABLE}" does not exist`));
  if (!missing) return error;
  return new Error(
    `${OUTBOX_TABLE} does not exist in this database: apply @nudge/client's migration first (sql/001_nudge_outbox.sql, or outboxMigrationSql())`,
    { cause: error },
  );
}
