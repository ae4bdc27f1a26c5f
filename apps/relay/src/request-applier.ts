import { CampaignInputError, enroll, stopEnrollments } from "@nudge/campaigns";
import type { ContactRef, NudgeRequest, PayloadOf } from "@nudge/client";
import { type Db, DeliveryLedger, jobMayBeMissing, type OneOffHandoff, type Queryable, sqlPool } from "@nudge/db";
import { type CheckResult, checkRequest } from "./check-request";
import type { OutboxRow } from "./outbox-row";
import { PartialBatchError } from "./partial-batch-error";
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
  /**
   * The one-off message the request created, or, for a request applied before, its message while its job may still
   * be missing (see jobMayBeMissing in @nudge/db): either way the caller hands it to the enqueuer.
   */
  oneOffId?: number;
  /**
   * The handoff of the transaction that created `oneOffId` (one per transaction, shared by its results; see the
   * one_off_handoffs migration). The caller hands it to the enqueuer whole, which deletes it once every one of its
   * jobs is added.
   */
  handoff?: OneOffHandoff;
}

/** What an enroll or stop still has to do after its request row and its contact are committed. */
type LeadWork =
  | { kind: "lead.enroll"; contactId: number; payload: PayloadOf<"lead.enroll"> }
  | { kind: "lead.stop"; contactId: number; payload: PayloadOf<"lead.stop"> };

/** A row and what it asks for, judged once. */
interface Checked {
  row: OutboxRow;
  check: CheckResult;
}

interface SendItem {
  row: OutboxRow;
  payload: PayloadOf<"message.send">;
}

/** A contact as Nudge's database holds it, through the caller's ref. */
interface StoredContact {
  nudgeId: number | null;
  name: string | null;
  phone: string | null;
  email: string | null;
  timezone: string | null;
}

/** A contact as a run of requests leaves it (foldContacts). */
interface FoldedContact extends StoredContact {
  version: bigint | null;
  /** Written by this run: created, or its details or version changed. */
  changed: boolean;
}

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

  /**
   * One request in a transaction of its own: the path for a lone request, for enrolling and stopping leads (whose
   * effects run in transactions of their own, see applyLeadRequest), and for a batch that could not be applied as
   * one (see applyBatch).
   */
  async apply(source: string, row: OutboxRow): Promise<ApplyResult> {
    const client = await sqlPool(this.options.db).connect();
    let applied: { result: ApplyResult; lead?: { record: RequestRecord; work: LeadWork } };
    try {
      await client.query("BEGIN");
      applied = await this.applyIn(client, source, row, checkRequest(row));
      await writeHandoff(client, [applied.result]);
      await client.query("COMMIT");
    } catch (error) {
      await rollback(client);
      throw error;
    } finally {
      client.release();
    }
    const { result, lead } = applied;
    if (lead) result.outcome = await this.applyLeadRequest(lead.record, lead.work);
    return result;
  }

  /**
   * A claimed batch of one source's requests (in outbox id order) in ONE transaction, instead of one per row: the
   * common kind, message.send, takes a handful of set-based statements per run of such rows (see sendMessages);
   * appointments and refusals go row by row in the same transaction, in their place, so that each subject sees its
   * requests in the caller's order. The contact and appointment refs the transaction will touch are locked first, all
   * at once, in (kind, external id) order: two relays whose batches share contacts then wait for each other instead
   * of deadlocking.
   *
   * An enroll or a stop ends the transaction before it (it runs in transactions of its own, see applyLeadRequest,
   * which must see what the rows before it did) and a new one begins after it.
   *
   * Throws PartialBatchError when Nudge's database refused the batch: what committed before the failure (before an
   * enroll or stop) is in `committed`; the caller applies the rest one row at a time, so that one bad row cannot hold
   * up the others.
   */
  async applyBatch(source: string, rows: readonly OutboxRow[]): Promise<ApplyResult[]> {
    const checked = rows.map((row) => ({ row, check: checkRequest(row) }));
    const results: ApplyResult[] = [];
    let at = 0;
    try {
      while (at < checked.length) {
        const first = checked[at]!;
        if (first.check.ok && isLeadKind(first.check.request.kind)) {
          results.push(await this.apply(source, first.row));
          at++;
          continue;
        }
        // Everything up to the next enroll or stop, in one transaction.
        let end = at;
        while (end < checked.length && !(checked[end]!.check.ok && isLeadKind((checked[end]!.check as { request: NudgeRequest }).request.kind))) end++;
        results.push(...(await this.applyRun(source, checked.slice(at, end))));
        at = end;
      }
    } catch (error) {
      throw new PartialBatchError(results, error as Error);
    }
    return results;
  }

  /** Rows without an enroll or stop among them, in one transaction; see applyBatch. */
  private async applyRun(source: string, run: readonly Checked[]): Promise<ApplyResult[]> {
    const client = await sqlPool(this.options.db).connect();
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      // A run of message.send requests only (the common case) locks its contacts' refs as it writes them (see
      // writeContacts); any other run locks every ref it will touch first.
      const onlySends = run.every(({ check }) => check.ok && check.request.kind === "message.send");
      const locked = onlySends ? [] : await lockRefsInOrder(client, source, run.flatMap(({ check }) => (check.ok ? refsOf(check.request) : [])));
      const results: ApplyResult[] = [];
      for (let i = 0; i < run.length; ) {
        const sends: SendItem[] = [];
        for (; i < run.length; i++) {
          const { row, check } = run[i]!;
          if (!check.ok || check.request.kind !== "message.send") break;
          sends.push({ row, payload: check.request.payload });
        }
        if (sends.length > 0) {
          results.push(...(await this.sendMessages(client, source, sends, !onlySends)));
          continue;
        }
        const { row, check } = run[i++]!;
        results.push((await this.applyIn(client, source, row, check)).result);
      }
      await writeHandoff(client, results);
      // Refs locked (and so created) for requests that were refused or superseded, and that nothing filled in: what a
      // refused request touched does not stay.
      if (locked.length > 0) {
        await client.query(
          `DELETE FROM external_refs r USING unnest($2::text[], $3::text[]) AS u(kind, external_id)
           WHERE r.source = $1 AND r.kind = u.kind AND r.external_id = u.external_id AND r.nudge_id IS NULL AND r.version IS NULL`,
          [source, locked.map((r) => r.kind), locked.map((r) => r.externalId)],
        );
      }
      await client.query("COMMIT");
      return results;
    } catch (error) {
      broken = error as Error;
      await rollback(client);
      throw error;
    } finally {
      // A connection whose transaction failed is dropped rather than reused: it may be the one that broke.
      client.release(broken);
    }
  }

  /**
   * One request in the caller's open transaction. An enroll or stop comes back with the work still to do after the
   * transaction commits (applyLeadRequest).
   */
  private async applyIn(client: Queryable, source: string, row: OutboxRow, check: CheckResult): Promise<{ result: ApplyResult; lead?: { record: RequestRecord; work: LeadWork } }> {
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
        const oneOff = await client.query<{ id: number }>(`SELECT m.id FROM one_off_messages m WHERE m.request_id = $1 AND ${jobMayBeMissing("m")}`, [
          existing.id,
        ]);
        return { result: { requestId: existing.id, outcome: existing.outcome, fresh: false, ...(oneOff.rows[0] && { oneOffId: oneOff.rows[0].id }) } };
      }
      record = existing;
    }
    if (!check.ok) return { result: { requestId: record.id, outcome: refused(check.refusal), fresh: true } };

    // The request row stays whatever the application does: a refusal undoes the application only.
    await client.query("SAVEPOINT apply");
    let outcome: string;
    let oneOffId: number | undefined;
    let lead: { record: RequestRecord; work: LeadWork } | undefined;
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
    return { result: { requestId: record.id, outcome, fresh: true, ...(oneOffId !== undefined && { oneOffId }) }, ...(lead && { lead }) };
  }

  /**
   * A run of message.send requests, set-based: one statement per step for the whole run, whatever its length.
   *  1. the request rows (insertRequests: the ones returned are new; the others were applied before, and their
   *     one-off message is handed back while its job may be missing);
   *  2. the contacts as the rows, applied one by one, would leave them (computed here, see foldContacts): new ones
   *     created with their refs in one statement, existing refs read FOR UPDATE in external id order and the changed
   *     contacts written with one UPDATE (see writeContacts; `refsLocked`: applyRun locked the refs already);
   *  3. the one-off messages of the requests applied.
   * A request whose contact ends up with no address for its channel is refused, and changes nothing, as sendMessage
   * does. Any error (a deadlock, a value Postgres rejects) fails the batch, which the relay then applies row by row.
   */
  private async sendMessages(q: Queryable, source: string, items: readonly SendItem[], refsLocked: boolean): Promise<ApplyResult[]> {
    const keys = items.map((i) => i.row.idempotencyKey);
    const inserted = await insertRequests(q, source, items);
    const fresh = new Map(inserted.map((r) => [r.key, r.id]));
    const results = new Map<string, ApplyResult>();
    if (fresh.size < items.length) {
      const { rows } = await q.query<{ id: number; key: string; outcome: string; oneOffId: number | null }>(
        `SELECT r.id, r.idempotency_key AS key, r.outcome, o.id AS "oneOffId"
         FROM relay_requests r LEFT JOIN one_off_messages o ON o.request_id = r.id AND ${jobMayBeMissing("o")}
         WHERE r.source = $1 AND r.idempotency_key = ANY($2::text[])`,
        [source, keys.filter((k) => !fresh.has(k))],
      );
      for (const r of rows) {
        // Only an enroll or stop is ever committed half-applied: a key that names one here is not a message.send
        // this batch can settle; the row-by-row path does what apply() does with it.
        if (r.outcome === APPLYING) throw new Error(`request ${r.key} is half-applied under another kind; applying its batch row by row`);
        results.set(r.key, { requestId: r.id, outcome: r.outcome, fresh: false, ...(r.oneOffId !== null && { oneOffId: r.oneOffId }) });
      }
    }
    const sends = items.filter((i) => fresh.has(i.row.idempotencyKey));
    if (sends.length > 0) {
      const contactIds = await this.writeContacts(q, source, sends, refsLocked);
      const refusals = sends.filter((i) => !contactIds.has(i.row.idempotencyKey));
      if (refusals.length > 0) {
        const outcomes = refusals.map((i) => refused(noAddress(i.payload)));
        await q.query(`UPDATE relay_requests r SET outcome = u.outcome FROM unnest($1::int[], $2::text[]) AS u(id, outcome) WHERE r.id = u.id`, [
          refusals.map((i) => fresh.get(i.row.idempotencyKey)!),
          outcomes,
        ]);
        refusals.forEach((i, n) => results.set(i.row.idempotencyKey, { requestId: fresh.get(i.row.idempotencyKey)!, outcome: outcomes[n]!, fresh: true }));
      }
      const applied = sends.filter((i) => contactIds.has(i.row.idempotencyKey));
      if (applied.length > 0) {
        const { rows } = await q.query<{ id: number; requestId: number }>(
          `WITH t AS MATERIALIZED (SELECT nudge_now() AS now)
           INSERT INTO one_off_messages (request_id, contact_id, channel, subject, body, deadline, created_at, enqueued)
           SELECT u.request_id, u.contact_id, u.channel::"Channel", u.subject, u.body, COALESCE(u.deadline::timestamptz, t.now + $7 * interval '1 hour'), t.now, true
           FROM unnest($1::int[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS u(request_id, contact_id, channel, subject, body, deadline, n), t
           ORDER BY u.n
           RETURNING id, request_id AS "requestId"`,
          [
            applied.map((i) => fresh.get(i.row.idempotencyKey)!),
            applied.map((i) => contactIds.get(i.row.idempotencyKey)!),
            applied.map((i) => i.payload.channel),
            applied.map((i) => i.payload.subject ?? null),
            applied.map((i) => i.payload.body),
            applied.map((i) => i.payload.deadline ?? null),
            this.options.defaultDeadlineHours,
          ],
        );
        const oneOffOf = new Map(rows.map((r) => [r.requestId, r.id]));
        for (const i of applied) {
          const requestId = fresh.get(i.row.idempotencyKey)!;
          results.set(i.row.idempotencyKey, { requestId, outcome: "applied", fresh: true, oneOffId: oneOffOf.get(requestId)! });
        }
      }
    }
    return items.map((i) => results.get(i.row.idempotencyKey)!);
  }

  /**
   * The contacts of a run of new message.send requests, written as upsertContact would leave them after each request
   * in outbox id order (see foldContacts). Returns the contact of each request that has an address for its channel,
   * by idempotency key; a request missing from it is refused.
   *
   * When the run's refs are not locked yet (`refsLocked` false: a run of sends only, see applyRun), the contacts
   * Nudge has never seen are created first, with their refs, in one statement (createContacts) that takes them in
   * (kind, external id) order as lockRefsInOrder does; only the refs that exist already are then read and locked, in
   * the same order. A transaction waiting in the first statement holds no ref that existed before it, so two relays
   * cannot wait for each other in a cycle.
   */
  private async writeContacts(q: Queryable, source: string, all: readonly SendItem[], refsLocked: boolean): Promise<Map<string, number>> {
    const accepted = new Map<string, number>();
    let sends = all;
    if (!refsLocked) {
      const created = await createContacts(q, source, all);
      for (const item of foldContacts(new Map(), all.filter((i) => created.has(i.payload.contact.id))).accepted) {
        accepted.set(item.row.idempotencyKey, created.get(item.payload.contact.id)!);
      }
      sends = all.filter((i) => !created.has(i.payload.contact.id));
      if (sends.length === 0) return accepted;
    }
    const ids = [...new Set(sends.map((i) => i.payload.contact.id))].sort();
    const { rows } = await q.query<StoredContact & { externalId: string; version: string | null }>(
      `SELECT r.external_id AS "externalId", r.nudge_id AS "nudgeId", r.version::text AS version, c.name, c.phone, c.email, c.timezone
       FROM external_refs r LEFT JOIN contacts c ON c.id = r.nudge_id
       WHERE r.source = $1 AND r.kind = 'contact' AND r.external_id = ANY($2::text[])
       ORDER BY r.external_id FOR UPDATE OF r`,
      [source, ids],
    );
    const stored = new Map<string, FoldedContact>(rows.map((r) => [r.externalId, { ...r, version: r.version === null ? null : BigInt(r.version), changed: false }]));
    const { contacts, accepted: stillAccepted } = foldContacts(stored, sends);

    const created = [...contacts].filter(([, c]) => c.nudgeId === null);
    const createdIds = new Set(created.map(([id]) => id));
    if (created.length > 0) {
      // Ids drawn first, so that each new contact and its ref are written together in one statement.
      const { rows: made } = await q.query<{ externalId: string; id: number }>(
        `WITH t AS MATERIALIZED (SELECT nudge_now() AS now), ${CONTACT_SEQUENCE}, u AS (
           SELECT u.*, nextval(s.seq)::int AS id
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) WITH ORDINALITY AS u(external_id, name, phone, email, timezone, version, n), s
           ORDER BY u.n
         ), c AS (
           INSERT INTO contacts (id, name, phone, email, timezone, created_at, updated_at)
           SELECT id, name, phone, email, timezone, t.now, t.now FROM u, t
         )
         INSERT INTO external_refs (source, kind, external_id, nudge_id, version, updated_at)
         SELECT $1, 'contact', external_id, id, version, t.now FROM u, t ORDER BY external_id
         ON CONFLICT (source, kind, external_id) DO UPDATE SET nudge_id = EXCLUDED.nudge_id, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
         RETURNING external_id AS "externalId", nudge_id AS id`,
        contactColumns(source, created),
      );
      for (const m of made) contacts.get(m.externalId)!.nudgeId = m.id;
    }
    const changed = [...contacts].filter(([id, c]) => c.changed && !createdIds.has(id));
    if (changed.length > 0) {
      await q.query(
        `WITH t AS MATERIALIZED (SELECT nudge_now() AS now),
         u AS (SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::int[]) AS u(external_id, name, phone, email, timezone, version, id)),
         c AS (UPDATE contacts c SET name = u.name, phone = u.phone, email = u.email, timezone = u.timezone, updated_at = t.now FROM u, t WHERE c.id = u.id)
         UPDATE external_refs r SET version = u.version, updated_at = t.now FROM u, t WHERE r.source = $1 AND r.kind = 'contact' AND r.external_id = u.external_id`,
        [...contactColumns(source, changed), changed.map(([, c]) => c.nudgeId)],
      );
    }
    for (const item of stillAccepted) accepted.set(item.row.idempotencyKey, contacts.get(item.payload.contact.id)!.nudgeId!);
    return accepted;
  }

  /** A one-off message for the contact; its deadline is the caller's, or the default from now by the database's clock. */
  private async sendMessage(q: Queryable, source: string, outboxId: string, requestId: number, p: PayloadOf<"message.send">): Promise<number> {
    const contactId = await upsertContact(q, source, outboxId, p.contact);
    const { rows } = await q.query<{ phone: string | null; email: string | null }>(`SELECT phone, email FROM contacts WHERE id = $1`, [contactId]);
    const address = p.channel === "sms" ? rows[0]!.phone : rows[0]!.email;
    if (!address) throw new RequestRefusedError(noAddress(p));
    const inserted = await q.query<{ id: number }>(
      `INSERT INTO one_off_messages (request_id, contact_id, channel, subject, body, deadline, enqueued)
       VALUES ($1, $2, $3::"Channel", $4, $5, COALESCE($6::timestamptz, nudge_now() + $7 * interval '1 hour'), true)
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

const noAddress = (p: PayloadOf<"message.send">) =>
  `contact ${JSON.stringify(p.contact.id)} has no ${p.channel === "sms" ? "phone number" : "email address"}; send it with the contact`;

/** Enrolling and stopping run in transactions of their own (applyLeadRequest): they end a batch's transaction. */
const isLeadKind = (kind: string) => kind === "lead.enroll" || kind === "lead.stop";

type RefKey = { kind: "contact" | "appointment"; externalId: string };

/** The refs a request locks (lockRef) when it is applied. */
function refsOf(request: NudgeRequest): RefKey[] {
  switch (request.kind) {
    case "message.send":
      return [{ kind: "contact", externalId: request.payload.contact.id }];
    case "appointment.schedule":
      return [
        { kind: "contact", externalId: request.payload.contact.id },
        { kind: "appointment", externalId: request.payload.appointmentId },
      ];
    case "appointment.cancel":
    case "appointment.confirm":
      return [{ kind: "appointment", externalId: request.payload.appointmentId }];
    default:
      return [];
  }
}

/**
 * Creates the contacts of a run of message.send requests that Nudge has no ref for yet, each as its requests leave it
 * (foldContacts from nothing), and their refs, in one statement: the refs are inserted in (kind, external id) order,
 * ON CONFLICT DO NOTHING, and a contact row is written for each ref the statement did insert. A ref another
 * transaction is inserting makes this one wait for it, and is then taken as existing. Returns the new contacts' ids
 * by external id; the refs that existed are left to the caller, unlocked.
 */
async function createContacts(q: Queryable, source: string, sends: readonly SendItem[]): Promise<Map<string, number>> {
  const folded = [...foldContacts(new Map(), sends).contacts];
  if (folded.length === 0) return new Map();
  const { rows } = await q.query<{ externalId: string; id: number }>(
    `WITH t AS MATERIALIZED (SELECT nudge_now() AS now), ${CONTACT_SEQUENCE},
     u AS MATERIALIZED (
       SELECT u.*, nextval(s.seq)::int AS id
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) AS u(external_id, name, phone, email, timezone, version), s
     ),
     r AS (
       INSERT INTO external_refs (source, kind, external_id, nudge_id, version, updated_at)
       SELECT $1, 'contact', u.external_id, u.id, u.version, t.now FROM u, t ORDER BY u.external_id
       ON CONFLICT DO NOTHING
       RETURNING external_id, nudge_id
     ),
     c AS (
       INSERT INTO contacts (id, name, phone, email, timezone, created_at, updated_at)
       SELECT u.id, u.name, u.phone, u.email, u.timezone, t.now, t.now FROM u JOIN r ON r.external_id = u.external_id, t
     )
     SELECT external_id AS "externalId", nudge_id AS id FROM r`,
    contactColumns(source, folded),
  );
  return new Map(rows.map((r) => [r.externalId, r.id]));
}

const UNIQUE_VIOLATION = "23505";

/**
 * The request rows of a run of message.send requests (see sendMessages): returns those this statement inserted, by
 * key; a key missing from it was applied before.
 *
 * Almost every run is new, and a plain INSERT costs Postgres less per row than ON CONFLICT DO NOTHING, a speculative
 * insertion (an index probe before each row and a second WAL record after it: about a third more per row, timed from
 * node over 1,000-row inserts into a table unique on two text columns). So the plain INSERT goes first, under a savepoint. A run with a key that is there
 * already (a relay died before marking its outbox row, or another writer of the same source committed it meanwhile)
 * fails it with a unique violation, and is inserted again with ON CONFLICT DO NOTHING, which waits for and skips
 * the rows that exist.
 */
async function insertRequests(q: Queryable, source: string, items: readonly SendItem[]): Promise<{ id: number; key: string }[]> {
  const insert = (onConflict: string) =>
    q.query<{ id: number; key: string }>(
      `WITH t AS MATERIALIZED (SELECT nudge_now() AS now)
       INSERT INTO relay_requests (source, idempotency_key, kind, subject, subject_version, payload, outcome, received_at)
       SELECT $1, u.key, u.kind, u.subject, u.version, p.payload, 'applied', t.now
       FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS u(key, kind, subject, version, n)
       JOIN jsonb_array_elements($6::jsonb) WITH ORDINALITY AS p(payload, n) ON p.n = u.n, t
       ORDER BY u.n
       ${onConflict}
       RETURNING id, idempotency_key AS key`,
      [
        source,
        items.map((i) => i.row.idempotencyKey),
        items.map((i) => i.row.kind),
        items.map((i) => i.row.subject),
        items.map((i) => i.row.subjectVersion),
        JSON.stringify(items.map((i) => i.row.payload ?? null)),
      ],
    );
  await q.query("SAVEPOINT requests");
  try {
    const { rows } = await insert("");
    await q.query("RELEASE SAVEPOINT requests");
    return rows;
  } catch (error) {
    if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
    await q.query("ROLLBACK TO SAVEPOINT requests");
    return (await insert("ON CONFLICT (source, idempotency_key) DO NOTHING")).rows;
  }
}

/**
 * A CTE `s` with the contacts' id sequence, looked up once per statement: pg_get_serial_sequence reads the catalog on
 * every call (4 µs a row when called for each new contact; measured over 20,000 rows in psql).
 */
const CONTACT_SEQUENCE = "s AS MATERIALIZED (SELECT pg_get_serial_sequence('contacts', 'id')::regclass AS seq)";

/**
 * The handoff of a transaction's new one-off messages (those of its fresh results), written in that transaction and
 * set on those results; none when it made none. The messages were written with `enqueued` true: this row, not their
 * bookmark, is what says their jobs may be missing until the enqueuer deletes it.
 */
async function writeHandoff(q: Queryable, results: readonly ApplyResult[]): Promise<void> {
  const made = results.filter((r) => r.fresh && r.oneOffId !== undefined);
  if (made.length === 0) return;
  const messageIds = made.map((r) => r.oneOffId!);
  const { rows } = await q.query<{ id: string }>(`INSERT INTO one_off_handoffs (message_ids) VALUES ($1::int[]) RETURNING id::text AS id`, [messageIds]);
  const handoff: OneOffHandoff = { id: rows[0]!.id, messageIds };
  for (const result of made) result.handoff = handoff;
}

/**
 * The parameters of a statement that writes contacts and their refs: the source, then a column each (external id,
 * name, phone, email, timezone, version).
 */
function contactColumns(source: string, contacts: readonly (readonly [string, FoldedContact])[]): unknown[] {
  return [
    source,
    contacts.map(([id]) => id),
    contacts.map(([, c]) => c.name),
    contacts.map(([, c]) => c.phone),
    contacts.map(([, c]) => c.email),
    contacts.map(([, c]) => c.timezone),
    contacts.map(([, c]) => c.version!.toString()),
  ];
}

/**
 * Creates the refs a batch's transaction will touch and locks them, all in one order, (kind, external id) by the
 * database's collation, whatever order the batch's rows name them in: relays whose batches share contacts wait for
 * one another instead of deadlocking. Later lockRef calls of the same transaction find them locked already. Returns
 * the refs it created, for applyRun to drop again if nothing filled them in.
 */
async function lockRefsInOrder(q: Queryable, source: string, refs: readonly RefKey[]): Promise<RefKey[]> {
  const unique = [...new Map(refs.map((r) => [`${r.kind}\u0000${r.externalId}`, r])).values()];
  if (unique.length === 0) return [];
  const params = [source, unique.map((r) => r.kind), unique.map((r) => r.externalId)];
  const { rows } = await q.query<RefKey>(
    `WITH t AS MATERIALIZED (SELECT nudge_now() AS now)
     INSERT INTO external_refs (source, kind, external_id, updated_at)
     SELECT $1, u.kind, u.external_id, t.now FROM unnest($2::text[], $3::text[]) AS u(kind, external_id), t
     ORDER BY u.kind, u.external_id
     ON CONFLICT DO NOTHING
     RETURNING kind, external_id AS "externalId"`,
    params,
  );
  await q.query(
    `SELECT 1 FROM external_refs r WHERE r.source = $1 AND (r.kind, r.external_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
     ORDER BY r.kind, r.external_id FOR UPDATE`,
    params,
  );
  return rows;
}

/**
 * What upsertContact and sendMessage, run for each request in outbox id order, would leave: a contact is created by
 * its first request, updated by each later one whose version (its outbox id) is newer than the ref's, fields the
 * request leaves out kept; a request whose contact then has no address for its channel is refused and changes
 * nothing. Pure: `stored` is what Nudge's database holds for the run's contacts.
 */
function foldContacts(stored: ReadonlyMap<string, FoldedContact>, sends: readonly SendItem[]): { contacts: Map<string, FoldedContact>; accepted: SendItem[] } {
  const contacts = new Map<string, FoldedContact>();
  const accepted: SendItem[] = [];
  for (const item of sends) {
    const c = item.payload.contact;
    const version = BigInt(item.row.id);
    const before = contacts.get(c.id) ?? stored.get(c.id);
    if (before && before.nudgeId !== null && before.name === null) {
      throw new Error(`contact ${before.nudgeId} (${c.id}) is gone from Nudge's database`);
    }
    let after: FoldedContact;
    if (!before || (before.nudgeId === null && !before.changed)) {
      after = { nudgeId: null, version, name: c.name, phone: c.phone ?? null, email: c.email ?? null, timezone: c.timezone ?? "UTC", changed: true };
    } else if (before.version === null || version > before.version) {
      after = { ...before, version, name: c.name, phone: c.phone ?? before.phone, email: c.email ?? before.email, timezone: c.timezone ?? before.timezone, changed: true };
    } else {
      after = before;
    }
    if (!(item.payload.channel === "sms" ? after.phone : after.email)) continue;
    contacts.set(c.id, after);
    accepted.push(item);
  }
  return { contacts, accepted };
}

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
