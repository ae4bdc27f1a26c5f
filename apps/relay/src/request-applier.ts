import { CampaignInputError, enroll, stopEnrollments } from "@nudge/campaigns";
import type { ContactRef, PayloadOf } from "@nudge/client";
import { type Db, DeliveryLedger, type Queryable, sqlPool } from "@nudge/db";
import { checkRequest } from "./check-request";
import type { OutboxRow } from "./outbox-row";
import { RequestRefusedError } from "./request-refused-error";
import { isDataError, rollback } from "./sql-pool";

/**
 * The outcome of an enroll or stop whose request row is written but whose effect may not exist yet (see
 * applyLeadRequest). Never the final word: the request's outcome becomes `applied` or `refused: ...` once the effect
 * exists or is refused, and a relay that finds it on a retry finishes the work.
 */
const APPLYING = "applying";

export interface ApplyResult {
  /** relay_requests.id */
  requestId: number;
  /** `applied`, `superseded` or `refused: <reason>`. */
  outcome: string;
  /** False when Nudge's database had the request already: an earlier attempt applied it and died before marking. */
  fresh: boolean;
  /** The one-off message the request created, while it is not yet enqueued. */
  oneOffId?: number;
}

/** What an enroll or stop still has to do after its request row and its contact are committed. */
type LeadWork =
  | { kind: "lead.enroll"; contactId: number; payload: PayloadOf<"lead.enroll"> }
  | { kind: "lead.stop"; contactId: number; payload: PayloadOf<"lead.stop"> };

interface RequestRecord {
  id: number;
  receivedAt: Date;
}

export interface RequestApplierOptions {
  db: Db;
  /** A one-off message without a deadline of its own is useless this long after it was relayed. */
  defaultDeadlineHours: number;
}

/**
 * Writes one caller's request into Nudge's database: the request row (unique on source and key) and everything it
 * creates or changes, in one transaction, so that a request is either wholly in Nudge's record or not at all, and a
 * second attempt finds it and does nothing.
 *
 * Enrolling and stopping a lead are the exception (see applyLeadRequest): @nudge/campaigns runs them in transactions
 * of their own.
 */
export class RequestApplier {
  private readonly ledger: DeliveryLedger;

  constructor(private readonly options: RequestApplierOptions) {
    this.ledger = new DeliveryLedger(options.db);
  }

  async apply(source: string, row: OutboxRow): Promise<ApplyResult> {
    const check = checkRequest(row);
    const client = await sqlPool(this.options.db).connect();
    let lead: { record: RequestRecord; work: LeadWork } | undefined;
    let result: ApplyResult;
    try {
      await client.query("BEGIN");
      const inserted = await client.query<{ id: number; receivedAt: Date }>(
        `INSERT INTO relay_requests (source, idempotency_key, kind, subject, subject_version, payload, outcome)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
         ON CONFLICT (source, idempotency_key) DO NOTHING
         RETURNING id, received_at AS "receivedAt"`,
        [source, row.idempotencyKey, row.kind, row.subject, row.subjectVersion, JSON.stringify(row.payload ?? null), check.ok ? APPLYING : refused(check.refusal)],
      );
      let record = inserted.rows[0];
      if (!record) {
        // Applied before: a relay wrote it and died before marking its outbox row, or another relay raced this one
        // after a lock was lost. Nothing is applied twice; an enroll or stop cut off half-way is finished below.
        const { rows } = await client.query<{ id: number; outcome: string; receivedAt: Date }>(
          `SELECT id, outcome, received_at AS "receivedAt" FROM relay_requests WHERE source = $1 AND idempotency_key = $2 FOR UPDATE`,
          [source, row.idempotencyKey],
        );
        const existing = rows[0]!;
        if (existing.outcome !== APPLYING || !check.ok) {
          const oneOff = await client.query<{ id: number }>(`SELECT id FROM one_off_messages WHERE request_id = $1 AND NOT enqueued`, [existing.id]);
          await client.query("COMMIT");
          return { requestId: existing.id, outcome: existing.outcome, fresh: false, ...(oneOff.rows[0] && { oneOffId: oneOff.rows[0].id }) };
        }
        record = existing;
      }
      if (!check.ok) {
        await client.query("COMMIT");
        return { requestId: record.id, outcome: refused(check.refusal), fresh: true };
      }

      // The request row stays whatever the application does: a refusal undoes the application only.
      await client.query("SAVEPOINT apply");
      let outcome: string;
      let oneOffId: number | undefined;
      try {
        const { request } = check;
        switch (request.kind) {
          case "message.send":
            oneOffId = await this.sendMessage(client, source, row.id, record.id, request.payload);
            outcome = "applied";
            break;
          case "appointment.schedule":
            outcome = await this.scheduleAppointment(client, source, row.id, request.payload, request.version);
            break;
          case "appointment.cancel":
          case "appointment.confirm":
            outcome = await this.endAppointment(client, source, request.payload.appointmentId, request.kind === "appointment.cancel" ? "cancelled" : "confirmed", request.version);
            break;
          case "lead.enroll":
            lead = { record, work: { kind: "lead.enroll", contactId: await upsertContact(client, source, row.id, request.payload.contact), payload: request.payload } };
            outcome = APPLYING;
            break;
          case "lead.stop": {
            const contactId = await this.stopTarget(client, source, request.payload);
            if (contactId !== undefined) lead = { record, work: { kind: "lead.stop", contactId, payload: request.payload } };
            // A lead Nudge never heard of is in no campaign: there is nothing to stop.
            outcome = contactId === undefined ? "applied" : APPLYING;
            break;
          }
        }
      } catch (error) {
        if (!(error instanceof RequestRefusedError) && !isDataError(error)) throw error;
        await client.query("ROLLBACK TO SAVEPOINT apply");
        outcome = refused((error as Error).message);
        lead = undefined;
        oneOffId = undefined;
      }
      if (outcome !== APPLYING) await client.query(`UPDATE relay_requests SET outcome = $2 WHERE id = $1`, [record.id, outcome]);
      await client.query("COMMIT");
      result = { requestId: record.id, outcome, fresh: true, ...(oneOffId !== undefined && { oneOffId }) };
    } catch (error) {
      await rollback(client);
      throw error;
    } finally {
      client.release();
    }
    if (lead) result.outcome = await this.applyLeadRequest(lead.record, lead.work);
    return result;
  }

  /** A one-off message for the contact; its deadline is the caller's, or the default from now by the database's clock. */
  private async sendMessage(q: Queryable, source: string, outboxId: string, requestId: number, p: PayloadOf<"message.send">): Promise<number> {
    const contactId = await upsertContact(q, source, outboxId, p.contact);
    const { rows } = await q.query<{ phone: string | null; email: string | null }>(`SELECT phone, email FROM contacts WHERE id = $1`, [contactId]);
    const address = p.channel === "sms" ? rows[0]!.phone : rows[0]!.email;
    if (!address) throw new RequestRefusedError(`contact ${JSON.stringify(p.contact.id)} has no ${p.channel === "sms" ? "phone number" : "email address"}; send it with the contact`);
    const inserted = await q.query<{ id: number }>(
      `INSERT INTO one_off_messages (request_id, contact_id, channel, subject, body, deadline)
       VALUES ($1, $2, $3::"Channel", $4, $5, COALESCE($6::timestamptz, nudge_now() + $7 * interval '1 hour'))
       RETURNING id`,
      [requestId, contactId, p.channel, p.subject ?? null, p.body, p.deadline ?? null, this.options.defaultDeadlineHours],
    );
    return inserted.rows[0]!.id;
  }

  /**
   * Creates the appointment, or moves it (a reschedule), unless a newer version of it was applied first.
   *
   * Status, as a user expects it: a schedule newer than a cancel re-books the appointment (it is scheduled again,
   * reminders resume); a confirmed (or completed) appointment whose start moves is scheduled again, since the
   * confirmation was for the old time; one whose start does not move keeps its status, so that a schedule that only
   * updates the contact does not undo a confirmation.
   */
  private async scheduleAppointment(q: Queryable, source: string, outboxId: string, p: PayloadOf<"appointment.schedule">, version: bigint): Promise<string> {
    const contactId = await upsertContact(q, source, outboxId, p.contact);
    const ref = await lockRef(q, source, "appointment", p.appointmentId);
    if (ref.version !== null && version <= ref.version) return "superseded";
    const startsAt = new Date(p.startsAt);
    if (ref.nudgeId === null) {
      const { rows } = await q.query<{ id: number }>(
        `INSERT INTO appointments (contact_id, starts_at, status, created_at, updated_at)
         VALUES ($1, $2, 'scheduled', nudge_now(), nudge_now()) RETURNING id`,
        [contactId, startsAt],
      );
      await saveRef(q, source, "appointment", p.appointmentId, { nudgeId: rows[0]!.id, version, state: "scheduled" });
      return "applied";
    }
    // `starts_at` and `status` on the right-hand side are the row's values before this UPDATE.
    const { rows } = await q.query<{ status: string }>(
      `UPDATE appointments SET contact_id = $2, starts_at = $3, updated_at = nudge_now(),
         status = CASE WHEN status = 'cancelled' OR starts_at IS DISTINCT FROM $3 THEN 'scheduled'::"AppointmentStatus" ELSE status END
       WHERE id = $1 RETURNING status::text AS status`,
      [ref.nudgeId, contactId, startsAt],
    );
    if (!rows[0]) throw new Error(`appointment ${ref.nudgeId} (${source} ${p.appointmentId}) is gone from Nudge's database`);
    await saveRef(q, source, "appointment", p.appointmentId, { nudgeId: ref.nudgeId, version, state: rows[0].status });
    return "applied";
  }

  /**
   * Cancels or confirms the appointment exactly as the product does (DeliveryLedger.cancelAppointment: its waiting
   * reminders are cancelled in this transaction), unless a newer version of it was applied first. An appointment
   * not created yet (its create is still in another relay's batch, or another source's) is remembered as cancelled
   * or confirmed at this version, with no appointment: the older create, when it arrives, is superseded, and no
   * reminder is ever due for it.
   */
  private async endAppointment(q: Queryable, source: string, appointmentId: string, status: "cancelled" | "confirmed", version: bigint): Promise<string> {
    const ref = await lockRef(q, source, "appointment", appointmentId);
    if (ref.version !== null && version <= ref.version) return "superseded";
    let state: string = status;
    if (ref.nudgeId !== null) {
      await this.ledger.cancelAppointment(ref.nudgeId, status, q);
      // A confirm after a cancel changes nothing: the ref keeps what the appointment is.
      const { rows } = await q.query<{ status: string }>(`SELECT status::text AS status FROM appointments WHERE id = $1`, [ref.nudgeId]);
      state = rows[0]?.status ?? status;
    }
    await saveRef(q, source, "appointment", appointmentId, { nudgeId: ref.nudgeId, version, state });
    return "applied";
  }

  /** The Nudge contact a stop is for (undefined: none), after checking that a named campaign exists. */
  private async stopTarget(q: Queryable, source: string, p: PayloadOf<"lead.stop">): Promise<number | undefined> {
    if (p.campaignId !== undefined) {
      const { rowCount } = await q.query(`SELECT 1 FROM campaigns WHERE id = $1`, [p.campaignId]);
      if (!rowCount) throw new RequestRefusedError(`campaignId: campaign ${JSON.stringify(p.campaignId)} is not loaded`);
    }
    const { rows } = await q.query<{ nudgeId: number | null }>(
      `SELECT nudge_id AS "nudgeId" FROM external_refs WHERE source = $1 AND kind = 'contact' AND external_id = $2`,
      [source, p.contactId],
    );
    return rows[0]?.nudgeId ?? undefined;
  }

  /**
   * Enrolling and stopping a lead run in @nudge/campaigns' own transactions (enroll is a Prisma interactive
   * transaction; stopEnrollments takes a connection of its own), which cannot join the request's transaction. So
   * the request row (outcome `applying`) and the contact are committed first, then the enroll or stop runs, then the
   * outcome becomes `applied` (or `refused: ...`). The outcome never says applied before the enrollment exists or the
   * stop has committed. A crash in between leaves `applying` and an unmarked outbox row; the retry finds the row and
   * runs the step again, which is idempotent:
   *  - an enrollment of this lead in this campaign that began after the request was received is this request's own
   *    (the first attempt's): it is not enrolled again, even with `reenroll` and a round that has since ended;
   *  - a stop stops the enrollments that began before the request was received, so a retry never stops a round that
   *    a later request started.
   */
  private async applyLeadRequest(record: RequestRecord, work: LeadWork): Promise<string> {
    const { db } = this.options;
    const pool = sqlPool(db);
    let outcome = "applied";
    if (work.kind === "lead.enroll") {
      const { campaignId, reenroll } = work.payload;
      const { rowCount } = await pool.query(
        `SELECT 1 FROM enrollments WHERE contact_id = $1 AND campaign_id = $2 AND enrolled_at >= $3 LIMIT 1`,
        [work.contactId, campaignId, record.receivedAt],
      );
      if (!rowCount) {
        try {
          await enroll(db, { contactId: work.contactId, campaignId, reenroll: reenroll === true });
        } catch (error) {
          if (!(error instanceof CampaignInputError)) throw error;
          outcome = refused(error.message);
        }
      }
    } else {
      const { rows } = await pool.query<{ id: number }>(
        `SELECT id FROM enrollments WHERE contact_id = $1 AND ($2::text IS NULL OR campaign_id = $2) AND enrolled_at < $3`,
        [work.contactId, work.payload.campaignId ?? null, record.receivedAt],
      );
      if (rows.length > 0) await stopEnrollments(db, { enrollmentIds: rows.map((r) => r.id) }, work.payload.reason);
    }
    await pool.query(`UPDATE relay_requests SET outcome = $2 WHERE id = $1 AND outcome = $3`, [record.id, outcome, APPLYING]);
    return outcome;
  }
}

const refused = (reason: string) => `refused: ${reason}`;

interface Ref {
  nudgeId: number | null;
  version: bigint | null;
  state: string | null;
}

/**
 * The external_refs row for a caller's id, created if absent and locked for the rest of the transaction: requests
 * for one subject apply one at a time, whichever relays carry them, so the version check below cannot race.
 */
async function lockRef(q: Queryable, source: string, kind: "contact" | "appointment", externalId: string): Promise<Ref> {
  await q.query(`INSERT INTO external_refs (source, kind, external_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [source, kind, externalId]);
  const { rows } = await q.query<{ nudgeId: number | null; version: string | null; state: string | null }>(
    `SELECT nudge_id AS "nudgeId", version::text AS version, state FROM external_refs
     WHERE source = $1 AND kind = $2 AND external_id = $3 FOR UPDATE`,
    [source, kind, externalId],
  );
  const row = rows[0]!;
  return { nudgeId: row.nudgeId, version: row.version === null ? null : BigInt(row.version), state: row.state };
}

async function saveRef(q: Queryable, source: string, kind: "contact" | "appointment", externalId: string, ref: { nudgeId: number | null; version: bigint; state: string | null }) {
  await q.query(
    `UPDATE external_refs SET nudge_id = $4, version = $5, state = $6, updated_at = nudge_now() WHERE source = $1 AND kind = $2 AND external_id = $3`,
    [source, kind, externalId, ref.nudgeId, ref.version.toString(), ref.state],
  );
}

/**
 * The Nudge contact for a caller's contact: created on its first request, its details updated by later ones. A
 * contact has no version of its own, so the outbox row's id stands in (the caller's order of writes): a request
 * relayed late (another relay's batch) never overwrites newer details. A field the request leaves out is kept.
 */
async function upsertContact(q: Queryable, source: string, outboxId: string, contact: ContactRef): Promise<number> {
  const ref = await lockRef(q, source, "contact", contact.id);
  const version = BigInt(outboxId);
  if (ref.nudgeId === null) {
    const { rows } = await q.query<{ id: number }>(
      `INSERT INTO contacts (name, phone, email, timezone, created_at, updated_at)
       VALUES ($1, $2, $3, COALESCE($4, 'UTC'), nudge_now(), nudge_now()) RETURNING id`,
      [contact.name, contact.phone ?? null, contact.email ?? null, contact.timezone ?? null],
    );
    await saveRef(q, source, "contact", contact.id, { nudgeId: rows[0]!.id, version, state: null });
    return rows[0]!.id;
  }
  if (ref.version === null || version > ref.version) {
    await q.query(
      `UPDATE contacts SET name = $2, phone = COALESCE($3, phone), email = COALESCE($4, email), timezone = COALESCE($5, timezone),
         updated_at = nudge_now() WHERE id = $1`,
      [ref.nudgeId, contact.name, contact.phone ?? null, contact.email ?? null, contact.timezone ?? null],
    );
    await saveRef(q, source, "contact", contact.id, { nudgeId: ref.nudgeId, version, state: ref.state });
  }
  return ref.nudgeId;
}
