import type { SimRecord } from "@nudge/simulator";
import { Client } from "pg";
import { checkDrips, type DripVerdict } from "./drip-checks";
import { CHAOS_CAMPAIGN_STEPS } from "./drip-workload";
import type { FaultWindow } from "./fault-log";
import { checkOutbox, type OutboxVerdict } from "./outbox-checks";
import type { SignupOutcomes } from "./outbox-workload";
import { type BusinessChanges, CHAOS_STEPS, STEPS } from "./workload";

/**
 * The verdict on a run, as an outsider gives it: what the providers accepted (the simulator's record) is what was
 * sent, and a message that was not sent must have a reason the suite can check on its own (it cancelled or moved
 * the appointment, a later reminder went out instead, a fault was under way). The ledger only says which delivery
 * a message was and why Nudge says it did not send it; it is never taken at its word.
 */
export interface Verdict {
  /** Reminder deliveries in the ledger (the drip workload's figures are in `drips`). */
  messages: number;
  states: Record<string, number>;
  /** The same delivery accepted twice, or two accepted messages for one (recipient, appointment, start, step). */
  duplicates: string[];
  /** Due messages neither accepted by a provider nor settled for a reason the suite checked. */
  lost: string[];
  /** Deliveries the ledger calls sent that the provider never accepted as that delivery. */
  phantoms: string[];
  /**
   * Sends the claim did not guard: accepted although the ledger says the delivery was not sent (cancelled, skipped,
   * failed, pending), accepted after the ledger had already settled it as `unknown` (a holder sending on a claim
   * it had lost, e.g. a worker resumed after its lease expired), or carrying no delivery the ledger knows.
   */
  unguardedSends: string[];
  /** Recipients who got more than one message per plan step per appointment start. */
  boundViolations: string[];
  /** `unknown` deliveries the provider has a record of (the recipient got it), and those it has none of. */
  unknownReachedProvider: string[];
  unknownNeverReached: string[];
  /** `unknown` deliveries the reconciler handed to an operator (a call it could not attribute). */
  unknownAwaitingOperator: string[];
  /** Due messages settled without a send, counted by the reason the suite checked; and each one with its evidence. */
  excused: Record<string, number>;
  excusedKeys: string[];
  /** Due messages a provider accepted. */
  delivered: number;
  /**
   * The messages owed entirely in a calm (no fault, nor its aftermath, from their step's due time to the start):
   * the control group, for which "a fault was active" excuses nothing, so a fleet that loses messages on its own
   * fails the run here. `owed` 0 means the run tested nothing of the kind, which is itself a violation.
   */
  calm: { owed: number; delivered: number; excused: number; lost: number };
  maxPerRecipientHour: number;
  /** The drip workload, judged from the simulator's record alone (drip-checks.ts). */
  drips: DripVerdict;
  /** The outbox workload (the example signup service's welcome emails), from the simulator's record (outbox-checks.ts). */
  outbox: OutboxVerdict;
}

export interface RunEvidence {
  records: readonly SimRecord[];
  faultWindows: readonly FaultWindow[];
  changes: BusinessChanges;
  /** The workers' send lease: a message accepted after its claim's lease ended was sent by a holder that had lost it. */
  sendLeaseMs: number;
  /** The contacts the suite enrolled in the drip campaign: each owes every step. */
  dripLeads: readonly number[];
  /** The example service's signups (each committed user owes one welcome email) and its database, for evidence. */
  signups: SignupOutcomes;
  callerDatabaseUrl: string;
}

/** A delivery of either kind: what the checks common to reminders and drip steps read. */
interface LedgerRow {
  id: number;
  key: string;
  sourceType: string;
  step: number;
  state: string;
  reason: string | null;
  providerMessageId: string | null;
  updatedAt: Date;
  awaitingOperator: boolean;
  /** The latest claim, and how often the reconciler sent the message again after the provider confirmed it had none. */
  claimedAt: Date | null;
  resends: number;
}

/** A reminder: the appointment and the start it was made for. */
interface DeliveryRow extends LedgerRow {
  appointmentId: number;
  startsAt: Date;
}

const isReminder = (row: LedgerRow): row is DeliveryRow => row.sourceType === "appointment";

type Judgement =
  | { kind: "delivered" }
  | { kind: "excused"; why: string; evidence?: string }
  | { kind: "lost"; why: string }
  | { kind: "phantom"; why: string }
  | { kind: "unknown-never-reached" };

const HOUR = 3_600_000;
/** Two reads of one host's clock, one rounded to the millisecond by Postgres. */
const CLOCK_READ_TOLERANCE_MS = 100;
const SUPERSEDED = /^superseded by step \d+/;
/** The claim's "past its deadline", the scheduler's "... (its job was lost)" and "its job was lost and ... started". */
const PAST_DEADLINE = /^past its deadline|its job was lost/;

export async function checkRun(databaseUrl: string, evidence: RunEvidence): Promise<Verdict> {
  const messagesOut = evidence.records.filter((r) => r.provider !== "hubspot");
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const all = (
      await client.query<LedgerRow>(
        `SELECT id, idempotency_key AS key, source_type AS "sourceType", appointment_id AS "appointmentId", appointment_starts_at AS "startsAt", step,
                state::text AS state, reason, provider_message_id AS "providerMessageId",
                updated_at AS "updatedAt", awaiting_operator_since IS NOT NULL AS "awaitingOperator",
                claimed_at AS "claimedAt", resends
         FROM deliveries ORDER BY id`,
      )
    ).rows;
    // Drip steps and one-off messages are judged apart (checkDrips, checkOutbox); every delivery, whatever its kind,
    // is checked for unknowns, phantoms, duplicate acceptance and unguarded sends.
    const rows = all.filter(isReminder);
    // The workload as the suite wrote it (Nudge only keeps its bookmarks in these tables).
    const appointments = (
      await client.query<{ id: number; contactId: number; status: string; startsAt: Date; phone: string; email: string }>(
        `SELECT a.id, a.contact_id AS "contactId", a.status::text AS status, a.starts_at AS "startsAt", c.phone, c.email
         FROM appointments a JOIN contacts c ON c.id = a.contact_id ORDER BY a.id`,
      )
    ).rows;

    const accepted = groupBy(messagesOut.filter((r) => r.deliveryId !== undefined), (r) => r.deliveryId!);
    const judge = new Judge(rows, accepted, evidence);
    const verdict: Verdict = {
      messages: rows.length,
      states: countBy(all, (r) => `${SOURCE_LABEL[r.sourceType] ?? `${r.sourceType} `}${r.state}`),
      duplicates: duplicates(all, accepted),
      lost: [],
      phantoms: [],
      unguardedSends: unguardedSends(all, messagesOut, evidence.sendLeaseMs),
      boundViolations: boundViolations(appointments, new Set(evidence.dripLeads), evidence.signups, messagesOut, evidence.changes),
      unknownReachedProvider: [],
      unknownNeverReached: [],
      unknownAwaitingOperator: [],
      excused: {},
      excusedKeys: [],
      delivered: 0,
      calm: { owed: 0, delivered: 0, excused: 0, lost: 0 },
      maxPerRecipientHour: maxInAnyHour(messagesOut),
      drips: await checkDrips(client, messagesOut, evidence.faultWindows, evidence.dripLeads),
      outbox: await checkOutboxAt(evidence.callerDatabaseUrl, client, messagesOut, evidence),
    };
    for (const row of all) {
      if (isReminder(row)) continue;
      if (row.state === "unknown") {
        if (row.awaitingOperator) verdict.unknownAwaitingOperator.push(`${row.key}: ${row.reason}`);
        else (accepted.has(String(row.id)) ? verdict.unknownReachedProvider : verdict.unknownNeverReached).push(`${row.key}: ${row.reason}`);
      } else {
        const why = phantom(row, accepted.get(String(row.id)) ?? []);
        if (why) verdict.phantoms.push(`${row.key}: ${why}`);
      }
    }
    for (const row of rows) {
      const calm = judge.faultsWhileOwed(row).length === 0;
      if (calm) verdict.calm.owed++;
      if (row.state === "unknown") {
        if (row.awaitingOperator) verdict.unknownAwaitingOperator.push(`${row.key}: ${row.reason}`);
        else (accepted.has(String(row.id)) ? verdict.unknownReachedProvider : verdict.unknownNeverReached).push(`${row.key}: ${row.reason}`);
        continue;
      }
      const j = judge.of(row);
      if (j.kind === "delivered") verdict.delivered++;
      if (calm && (j.kind === "delivered" || j.kind === "excused" || j.kind === "lost")) verdict.calm[j.kind]++;
      if (j.kind === "lost") verdict.lost.push(`${row.key}: ${j.why}`);
      else if (j.kind === "phantom") verdict.phantoms.push(`${row.key}: ${j.why}`);
      else if (j.kind === "excused") {
        verdict.excused[j.why] = (verdict.excused[j.why] ?? 0) + 1;
        verdict.excusedKeys.push(`${row.key}: ${row.state} (${row.reason}); ${j.why}${j.evidence ? ` (${j.evidence})` : ""}`);
      }
    }
    // Every appointment still on reached its start during the run: its last step was owed, whatever the backlog
    // collapsed before it, so it must at least have a delivery.
    const lastSteps = new Set(rows.filter((r) => r.step === STEPS).map((r) => `${r.appointmentId}@${r.startsAt.getTime()}`));
    for (const a of appointments) {
      if (a.status === "scheduled" && !lastSteps.has(`${a.id}@${a.startsAt.getTime()}`)) {
        verdict.lost.push(`appointment ${a.id} (${a.startsAt.toISOString()}): step ${STEPS} never got a delivery`);
      }
    }
    return verdict;
  } finally {
    await client.end();
  }
}

/** How the ledger's states are labelled per kind of delivery in the summary (reminders unlabelled). */
const SOURCE_LABEL: Readonly<Record<string, string>> = { appointment: "", enrollment: "drip ", "one-off": "one-off " };

async function checkOutboxAt(callerDatabaseUrl: string, client: Client, messagesOut: readonly SimRecord[], evidence: RunEvidence): Promise<OutboxVerdict> {
  const callerClient = new Client({ connectionString: callerDatabaseUrl });
  await callerClient.connect();
  try {
    return await checkOutbox(client, callerClient, messagesOut, evidence.faultWindows, evidence.signups);
  } finally {
    await callerClient.end();
  }
}

/** Decides, per delivery, whether its message went out or why it may not have; memoised, since "superseded" asks it of later steps. */
class Judge {
  private readonly memo = new Map<number, Judgement>();
  private readonly byAppointment: Map<number, DeliveryRow[]>;
  private readonly cancelledBySuite: Set<number>;
  private readonly movedFromBySuite: Set<string>;

  constructor(
    rows: readonly DeliveryRow[],
    private readonly accepted: Map<string, SimRecord[]>,
    private readonly evidence: RunEvidence,
  ) {
    this.byAppointment = groupBy(rows, (r) => r.appointmentId);
    this.cancelledBySuite = new Set(evidence.changes.cancelled);
    this.movedFromBySuite = new Set(evidence.changes.rescheduled.map((r) => `${r.id}@${r.from.getTime()}`));
  }

  of(row: DeliveryRow): Judgement {
    let j = this.memo.get(row.id);
    if (!j) {
      j = this.decide(row);
      this.memo.set(row.id, j);
    }
    return j;
  }

  private decide(row: DeliveryRow): Judgement {
    const records = this.accepted.get(String(row.id)) ?? [];
    const phantomWhy = phantom(row, records);
    if (phantomWhy) return { kind: "phantom", why: phantomWhy };
    // Whatever the ledger says, a message the provider accepted reached the recipient (a state that disagrees is
    // reported apart, as an unrecorded send).
    if (records.length > 0) return { kind: "delivered" };
    const said = `${row.state}${row.reason ? ` (${row.reason})` : ""}`;
    switch (row.state) {
      case "unknown":
        return { kind: "unknown-never-reached" };
      case "cancelled":
        if (this.cancelledBySuite.has(row.appointmentId)) return { kind: "excused", why: "cancelled: the suite cancelled the appointment" };
        if (this.movedFromBySuite.has(`${row.appointmentId}@${row.startsAt.getTime()}`)) {
          return { kind: "excused", why: "cancelled: the suite moved the appointment from this start" };
        }
        return { kind: "lost", why: `${said}, but the suite neither cancelled appointment ${row.appointmentId} nor moved it from ${row.startsAt.toISOString()}` };
      case "skipped":
        if (row.reason && SUPERSEDED.test(row.reason)) return this.superseded(row, said);
        if (row.reason && PAST_DEADLINE.test(row.reason)) return this.pastDeadline(row, said);
        return { kind: "lost", why: `${said}: not a reason the suite can check` };
      case "failed":
        return { kind: "lost", why: `${said}: the suite injects no permanent rejection` };
      default:
        return { kind: "lost", why: `still ${said} after the run settled` };
    }
  }

  /**
   * Superseded is an excuse only if the recipient got the later, more useful reminder instead: a later step of the
   * same appointment went out, or was itself excused. A later start counts too: the DB advance of a rescheduled
   * appointment's new reminder retires the old start's pending ones.
   */
  private superseded(row: DeliveryRow, said: string): Judgement {
    const later = (this.byAppointment.get(row.appointmentId) ?? []).filter(
      (r) => r.step > row.step && r.startsAt.getTime() >= row.startsAt.getTime(),
    );
    const judgements = later.map((r) => this.of(r).kind);
    if (judgements.includes("delivered")) return { kind: "excused", why: "superseded: a later step was accepted" };
    if (judgements.includes("excused")) return { kind: "excused", why: "superseded: a later step was itself excused" };
    // The later step's outcome is unknown and it never reached the provider: whether this recipient is reminded now
    // rests on resolving that unknown (the reconciler's job), so it is reported with the unknowns, not as lost.
    if (judgements.includes("unknown-never-reached")) return { kind: "unknown-never-reached" };
    const found = later.map((r) => `${r.key} ${r.state}`).join(", ") || "none";
    return { kind: "lost", why: `${said}, but no later step went out or was excused (later steps: ${found})` };
  }

  /** When the message was owed: from its step's due time to the start. */
  private owed(row: DeliveryRow): { owedFrom: number; owedUntil: number } {
    const lead = CHAOS_STEPS.find((s) => s.step === row.step)?.leadSeconds ?? 0;
    return { owedFrom: row.startsAt.getTime() - lead * 1000, owedUntil: row.startsAt.getTime() };
  }

  /** The faults (with their aftermath) that overlapped the time the message was owed. */
  faultsWhileOwed(row: DeliveryRow): FaultWindow[] {
    const { owedFrom, owedUntil } = this.owed(row);
    return this.evidence.faultWindows.filter((w) => w.from <= owedUntil && w.to >= owedFrom);
  }

  /** Missing a deadline is excused only while a fault (or its aftermath) overlapped the time the message was owed. */
  private pastDeadline(row: DeliveryRow, said: string): Judgement {
    const { owedFrom, owedUntil } = this.owed(row);
    const active = this.faultsWhileOwed(row);
    if (active.length > 0) {
      const at = (ms: number) => new Date(ms).toISOString().slice(11, 23);
      const kinds = [...new Set(active.map((w) => w.kind))].join(", ");
      return {
        kind: "excused",
        why: "skipped past its deadline while a fault was active",
        evidence: `owed ${at(owedFrom)}-${at(owedUntil)}; active then, with their aftermath: ${kinds}`,
      };
    }
    return {
      kind: "lost",
      why: `${said}, but no fault was active while it was owed (${new Date(owedFrom).toISOString()} to ${new Date(owedUntil).toISOString()})`,
    };
  }
}

/** Why a delivery the ledger calls sent is a phantom (no provider accepted it as that message), if it is one. */
function phantom(row: LedgerRow, records: readonly SimRecord[]): string | undefined {
  if (row.state !== "sent") return undefined;
  if (records.length === 0) return `sent (${row.providerMessageId}), but no provider accepted delivery ${row.id}`;
  if (!records.some((r) => r.id === row.providerMessageId)) {
    return `sent as ${row.providerMessageId}, but the provider accepted delivery ${row.id} as ${records.map((r) => r.id).join(", ")}`;
  }
  return undefined;
}

/**
 * The same delivery accepted twice, or two deliveries of one reminder (recipient, appointment, start, step) accepted.
 * (Two deliveries of one drip step are found from the messages' text, in checkDrips.)
 */
function duplicates(rows: readonly LedgerRow[], accepted: Map<string, SimRecord[]>): string[] {
  const found: string[] = [];
  const byId = new Map(rows.map((r) => [String(r.id), r]));
  const perReminder = new Map<string, string[]>();
  for (const [deliveryId, records] of accepted) {
    const row = byId.get(deliveryId);
    if (records.length > 1) {
      found.push(`delivery ${deliveryId} (${row?.key ?? "not in the ledger"}) accepted ${records.length} times: ${records.map((r) => `${r.provider} ${r.id} at ${r.at}`).join(", ")}`);
    }
    if (!row || !isReminder(row)) continue;
    for (const r of records) {
      const reminder = `${r.to} appointment ${row.appointmentId} start ${row.startsAt.toISOString()} step ${row.step}`;
      const ids = perReminder.get(reminder) ?? [];
      if (!ids.includes(deliveryId)) ids.push(deliveryId);
      perReminder.set(reminder, ids);
    }
  }
  for (const [reminder, ids] of perReminder) {
    if (ids.length > 1) found.push(`${reminder} accepted as ${ids.length} deliveries (${ids.join(", ")})`);
  }
  return found;
}

/**
 * Sends the ledger's claim did not cover. Its `updated_at` is on the database's clock (nudge_now(), which the
 * chaos run never moves) and the simulator stamps acceptance on the same host's clock, so a message accepted after
 * its delivery became `unknown` was sent by a holder whose claim had already been taken over.
 */
function unguardedSends(rows: readonly LedgerRow[], messagesOut: readonly SimRecord[], sendLeaseMs: number): string[] {
  const byId = new Map(rows.map((r) => [String(r.id), r]));
  const found: string[] = [];
  for (const r of messagesOut) {
    const row = r.deliveryId === undefined ? undefined : byId.get(r.deliveryId);
    if (r.deliveryId === undefined) found.push(`${r.provider} ${r.id} to ${r.to} at ${r.at} carries no delivery id`);
    else if (!row) found.push(`${r.provider} ${r.id} to ${r.to} at ${r.at} carries delivery id ${r.deliveryId}, which the ledger does not have`);
    else if (row.state !== "sent" && row.state !== "unknown") {
      found.push(`${row.key}: accepted by ${r.provider} as ${r.id} at ${r.at}, but the ledger says ${row.state}${row.reason ? ` (${row.reason})` : ""}`);
    } else if (row.state === "unknown" && Date.parse(r.at) > row.updatedAt.getTime() + CLOCK_READ_TOLERANCE_MS) {
      found.push(`${row.key}: accepted by ${r.provider} as ${r.id} at ${r.at}, after the ledger settled it at ${row.updatedAt.toISOString()} (${row.reason})`);
    } else if (row.resends === 0 && row.claimedAt && Date.parse(r.at) > row.claimedAt.getTime() + sendLeaseMs + CLOCK_READ_TOLERANCE_MS) {
      // Never sent again, so its one send belongs to a claim; the reconciler may since have found it in the
      // provider's list and called it sent, which must not hide a holder that sent on a lease it had lost.
      found.push(`${row.key}: accepted by ${r.provider} as ${r.id} at ${r.at}, after its claim's lease (from ${row.claimedAt.toISOString()}) had ended`);
    }
  }
  return found;
}

/**
 * The per-recipient bound, from the workload alone: a recipient may get at most one message per plan step on its
 * channel per start its appointment had (each reschedule by the suite adds a start), plus, for a lead the suite
 * enrolled, one per drip step on that channel; a user the example service signed up gets its one welcome email.
 * Every contact and user has its own phone and address, so this holds whatever the ledger says.
 */
function boundViolations(
  appointments: ReadonlyArray<{ id: number; contactId: number; phone: string; email: string }>,
  dripLeads: ReadonlySet<number>,
  signups: SignupOutcomes,
  messagesOut: readonly SimRecord[],
  changes: BusinessChanges,
): string[] {
  const starts = countBy(changes.rescheduled, (r) => String(r.id));
  const phoneSteps = CHAOS_STEPS.filter((s) => s.channel !== "email").length;
  const emailSteps = CHAOS_STEPS.filter((s) => s.channel === "email").length;
  const dripPhoneSteps = CHAOS_CAMPAIGN_STEPS.filter((s) => s.channel === "sms").length;
  const dripEmailSteps = CHAOS_CAMPAIGN_STEPS.filter((s) => s.channel === "email").length;
  const bound = new Map<string, { appointmentId: number; max: number; startCount: number }>();
  for (const a of appointments) {
    const startCount = 1 + (starts[String(a.id)] ?? 0);
    const lead = dripLeads.has(a.contactId);
    bound.set(a.phone, { appointmentId: a.id, max: startCount * phoneSteps + (lead ? dripPhoneSteps : 0), startCount });
    bound.set(a.email, { appointmentId: a.id, max: startCount * emailSteps + (lead ? dripEmailSteps : 0), startCount });
  }
  const found: string[] = [];
  for (const [to, got] of Object.entries(countBy(messagesOut, (r) => r.to))) {
    if (signups.committed.has(to)) {
      if (got > 1) found.push(`${to} (signed up through the outbox) got ${got} messages; at most 1 allowed`);
      continue;
    }
    const b = bound.get(to);
    if (!b) found.push(`${to} is no recipient of the workload, yet got ${got} message(s)`);
    else if (got > b.max) {
      found.push(`${to} (appointment ${b.appointmentId}, ${b.startCount} start(s), drip steps included) got ${got} messages; at most ${b.max} allowed`);
    }
  }
  return found;
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const list = groups.get(key(item)) ?? [];
    list.push(item);
    groups.set(key(item), list);
  }
  return groups;
}

/** The most messages any one recipient (phone number or address) received within a sliding hour. */
function maxInAnyHour(records: readonly SimRecord[]): number {
  const times = groupBy(records, (r) => r.to);
  let max = 0;
  for (const records of times.values()) {
    const list = records.map((r) => Date.parse(r.at)).sort((a, b) => a - b);
    for (let lo = 0, hi = 0; hi < list.length; hi++) {
      while (list[hi]! - list[lo]! >= HOUR) lo++;
      max = Math.max(max, hi - lo + 1);
    }
  }
  return max;
}
