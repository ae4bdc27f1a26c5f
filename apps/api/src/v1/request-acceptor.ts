import { createHash } from "node:crypto";
import { type RequestKind, VERSIONED_KINDS } from "@nudge/client";
import { type Db, jobMayBeMissing, type OneOffHandoff, sqlPool } from "@nudge/db";
import type { Logger } from "@nudge/logger";
import { type ApplyResult, checkRequest, type OneOffEnqueuer, type OutboxRow, type RequestApplier } from "@nudge/relay";
import { ClientError, StoreUnavailableError, stored } from "../http-errors";
import type { PostRoute } from "./api-schemas";
import type { ApiPrincipal } from "./api-tokens";
import { ApplyBatcher } from "./apply-batcher";
import { IdempotencyStore, type StoredResponse } from "./idempotency-store";

export interface Answer extends StoredResponse {
  /** The stored first answer, sent again. */
  replayed: boolean;
}

export interface RequestAcceptorOptions {
  db: Db;
  /** The relay's applier: an HTTP request is written into Nudge's database exactly as a relayed outbox row is. */
  applier: RequestApplier;
  /** Enqueues the one-off messages accepted (absent: the scheduler's pass enqueues them). */
  enqueuer?: OneOffEnqueuer;
  logger: Logger;
  /**
   * Where Idempotency-Key rows are claimed and completed: `db`, or a pool on the same database whose sessions commit
   * without waiting for the WAL flush (see keysDatabaseUrl). Absent: `db`.
   */
  keysDb?: Db;
}

/** JSON with object keys sorted, so that two bodies that mean the same request hash alike whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

const json = (statusCode: number, value: unknown): StoredResponse => ({ statusCode, body: JSON.stringify(value) });

/**
 * A POST of the HTTP API, from a checked body to its answer: the Idempotency-Key claimed (idempotency-store.ts), the
 * request written into Nudge's database by the relay's own RequestApplier (relay_requests, unique on source + key,
 * and the message, appointment or enrollment, in one transaction) before any answer, the answer stored for replays,
 * and only then a one-off message's job enqueued. Redis plays no part before the answer: an outage delays jobs, and
 * loses no accepted request.
 */
export class RequestAcceptor {
  private readonly keys: IdempotencyStore;
  private readonly batcher: ApplyBatcher;

  constructor(private readonly options: RequestAcceptorOptions) {
    this.keys = new IdempotencyStore(options.keysDb ?? options.db);
    this.batcher = new ApplyBatcher(options.applier);
  }

  async accept(principal: ApiPrincipal, route: PostRoute, params: Record<string, string>, body: unknown, key: string): Promise<Answer> {
    const { payload, version } = route.toRequest(params, body);
    const kind: RequestKind = route.kind;
    const row: OutboxRow = {
      id: "0",
      source: principal.source,
      idempotencyKey: key,
      kind,
      subject: (VERSIONED_KINDS as readonly string[]).includes(kind) ? `appointment:${(payload as { appointmentId: string }).appointmentId}` : null,
      subjectVersion: version === null ? null : String(version),
      payload,
    };
    // The relay's own judgement of the request, before anything is written: the body passed the route's schema, so
    // this fails only if the two disagree, and then nothing may be written either.
    const check = checkRequest(row);
    if (!check.ok) throw new ClientError(400, check.refusal);

    const requestHash = createHash("sha256").update(canonical([route.operationId, params, body])).digest("hex");
    const claim = await stored(() => this.keys.claim(principal.source, key, requestHash));
    switch (claim.kind) {
      case "replay":
        return { ...claim.response, replayed: true };
      case "mismatch":
        throw new ClientError(422, `Idempotency-Key ${JSON.stringify(key)} was used for another request (another route or body); use a new key for a new request`);
      case "in-flight":
        throw new ClientError(409, `a request with Idempotency-Key ${JSON.stringify(key)} is still being processed; retry in ${claim.retryAfterSeconds} s for its answer`, {
          "retry-after": String(claim.retryAfterSeconds),
        });
    }

    let answer: StoredResponse;
    let toEnqueue: OneOffHandoff | number[] | undefined;
    try {
      // The key's row id orders the API's requests as an outbox row's id orders a service's outbox: a contact's
      // details are those of its latest request.
      const applying = { ...row, id: claim.sequence };
      // One-off messages, the common request, are applied together with those that arrive with them (apply-batcher.ts).
      const result = kind === "message.send" ? await this.batcher.apply(principal.source, applying) : await this.options.applier.apply(principal.source, applying);
      ({ answer, toEnqueue } = await this.answerFor(principal.source, row, result));
    } catch (error) {
      await this.keys.release(claim).catch(() => undefined);
      if (error instanceof ClientError) throw error;
      throw new StoreUnavailableError(`could not record the request: ${(error as Error).message}`, { cause: error });
    }
    const completed = await this.keys.complete(claim, answer).catch((error: unknown) => {
      // Applied, but the answer is not stored: the key stays `processing` until its lease ends; a retry then applies
      // the request again, which finds it in relay_requests and answers the same.
      this.options.logger.warn({ err: (error as Error).message, key }, "answer not stored for the key; a retry after the lease will rebuild it");
      return false;
    });
    if (!completed) this.options.logger.debug({ key }, "the key was taken over while this request was applied");
    if (toEnqueue) this.options.enqueuer?.add(toEnqueue);
    return { ...answer, replayed: false };
  }

  /**
   * The answer, from Nudge's record rather than from this attempt's own result, so that an attempt that finds the
   * request applied before (a takeover after a crash) answers byte for byte what the first would have.
   */
  private async answerFor(source: string, row: OutboxRow, result: ApplyResult): Promise<{ answer: StoredResponse; toEnqueue?: OneOffHandoff | number[] }> {
    const { requestId, outcome, fresh } = result;
    const pool = sqlPool(this.options.db);
    if (!fresh) {
      // The key was in relay_requests already: this API's own earlier attempt, or the source's outbox using the same
      // key for something else.
      const { rows } = await pool.query<{ same: boolean }>(
        `SELECT kind = $2 AND subject_version IS NOT DISTINCT FROM $3::bigint AND payload = $4::jsonb AS same FROM relay_requests WHERE id = $1`,
        [requestId, row.kind, row.subjectVersion, JSON.stringify(row.payload)],
      );
      if (!rows[0]?.same) {
        return {
          answer: json(422, { error: `Idempotency-Key ${JSON.stringify(row.idempotencyKey)} was used for another request of source ${JSON.stringify(source)} (through its outbox?); use a new key for a new request` }),
        };
      }
    }
    const base = { id: requestId, kind: row.kind, idempotencyKey: row.idempotencyKey, outcome };
    if (outcome.startsWith("refused: ")) {
      return { answer: json(422, { error: outcome.slice("refused: ".length), ...base }) };
    }
    if (row.kind !== "message.send") return { answer: json(201, base) };
    // Made by this attempt: its id is in the result, with its transaction's handoff, and it is not enqueued yet.
    if (fresh && result.oneOffId !== undefined) {
      return { answer: json(201, { ...base, messageId: result.oneOffId }), toEnqueue: result.handoff ?? [result.oneOffId] };
    }
    const { rows } = await pool.query<{ id: number; missing: boolean }>(`SELECT m.id, ${jobMayBeMissing("m")} AS missing FROM one_off_messages m WHERE m.request_id = $1`, [
      requestId,
    ]);
    const message = rows[0];
    return { answer: json(201, { ...base, ...(message && { messageId: message.id }) }), ...(message?.missing && { toEnqueue: [message.id] }) };
  }
}
