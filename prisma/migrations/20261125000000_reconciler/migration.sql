-- The reconciler: what the providers report about each message, and opt-outs kept per recipient.

-- A message the provider accepted but could not get to its recipient (Twilio undelivered/failed, a call nobody
-- answered, a SendGrid bounce or drop): not sent twice, not reached.
ALTER TYPE "DeliveryState" ADD VALUE 'undelivered';

-- The latest status the provider reported for the delivery's message (a status callback, an event, its list), with
-- the rank that orders a message's statuses (see @nudge/core's interpretProviderStatus): a report is applied only
-- when it ranks higher than the one recorded, so a replayed or late report never moves a delivery backwards.
-- `resends`: how often the reconciler sent the message again after confirming the provider never had it.
-- `awaiting_operator_since`: the reconciler could not decide (a call it cannot attribute) and waits for a person.
ALTER TABLE "deliveries"
  ADD COLUMN "provider_status" TEXT,
  ADD COLUMN "provider_outcome" TEXT CHECK ("provider_outcome" IN ('accepted', 'undelivered')),
  ADD COLUMN "provider_status_rank" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "provider_status_at" TIMESTAMPTZ(3),
  ADD COLUMN "resends" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "awaiting_operator_since" TIMESTAMPTZ(3);
CREATE INDEX "deliveries_provider_message_id_idx" ON "deliveries"("provider_message_id");

-- Every provider report received, once (a replay finds its key and changes nothing): the evidence the reconciler
-- and an operator read. `event_key` is the provider's own id where it has one (SendGrid's sg_event_id), else the
-- message id and status (a Twilio callback).
CREATE TABLE "provider_events" (
    "id" BIGSERIAL NOT NULL,
    "provider" TEXT NOT NULL,
    "event_key" TEXT NOT NULL,
    "delivery_id" INTEGER,
    "provider_message_id" TEXT,
    "status" TEXT NOT NULL,
    "detail" TEXT,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "provider_events_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "provider_events_provider_event_key_key" ON "provider_events"("provider", "event_key");
CREATE INDEX "provider_events_delivery_id_idx" ON "provider_events"("delivery_id");

-- Where an opt-out came from (an inbound STOP, a SendGrid unsubscribe...), for the operator's timeline.
ALTER TABLE "suppressions" ADD COLUMN "source" TEXT NOT NULL DEFAULT 'operator';

-- A provider's report about one delivery's message. Moves the delivery only forwards:
--   unknown + accepted            -> sent, with the provider's message id (the message exists)
--   sent or unknown + undelivered -> undelivered, with the provider's reason
-- anything else only records the status (a `sending` delivery's holder records the send itself; ClaimLedger then
-- takes an undelivered report into account). A report for another message id than the one recorded is ignored.
-- Returns the delivery's state afterwards, and whether the report was applied.
CREATE FUNCTION "nudge_apply_provider_status"(p_id INTEGER, p_message_id TEXT, p_status TEXT, p_outcome TEXT, p_rank INTEGER, p_detail TEXT)
RETURNS TABLE ("applied" BOOLEAN, "state" TEXT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  d "deliveries"%ROWTYPE;
  t TIMESTAMPTZ := nudge_now();
BEGIN
  SELECT * INTO d FROM "deliveries" WHERE "id" = p_id FOR UPDATE;
  IF NOT FOUND THEN RETURN QUERY SELECT false, NULL::text; RETURN; END IF;
  IF p_rank <= d."provider_status_rank"
     OR (d."provider_message_id" IS NOT NULL AND p_message_id IS NOT NULL AND d."provider_message_id" <> p_message_id) THEN
    RETURN QUERY SELECT false, d."state"::text; RETURN;
  END IF;
  UPDATE "deliveries" SET
    "provider_status" = p_status, "provider_outcome" = p_outcome, "provider_status_rank" = p_rank, "provider_status_at" = t,
    "provider_message_id" = COALESCE("provider_message_id", p_message_id),
    "state" = CASE
      WHEN "state" = 'unknown' AND p_outcome = 'accepted' THEN 'sent'
      WHEN "state" IN ('sent', 'unknown') AND p_outcome = 'undelivered' THEN 'undelivered'
      ELSE "state" END,
    "reason" = CASE
      WHEN "state" = 'unknown' AND p_outcome = 'accepted' THEN 'confirmed by the provider (' || p_status || ')'
      WHEN "state" IN ('sent', 'unknown') AND p_outcome = 'undelivered' THEN 'not delivered: ' || p_status || coalesce(' (' || p_detail || ')', '')
      ELSE "reason" END,
    "sent_at" = CASE WHEN "state" = 'unknown' THEN COALESCE("sent_at", t) ELSE "sent_at" END,
    "needs_lookup" = CASE WHEN "state" = 'unknown' THEN false ELSE "needs_lookup" END,
    "awaiting_operator_since" = CASE WHEN "state" = 'unknown' THEN NULL ELSE "awaiting_operator_since" END,
    "updated_at" = t
  WHERE "id" = p_id RETURNING * INTO d;
  RETURN QUERY SELECT true, d."state"::text;
END
$$;

-- The claim compares an email recipient lower-cased, as the suppression list stores it.
CREATE OR REPLACE FUNCTION "nudge_claim_delivery"(p_id INTEGER, p_lease_ms INTEGER, p_skip_reason TEXT DEFAULT NULL)
RETURNS TABLE ("outcome" TEXT, "state" TEXT, "reason" TEXT, "token" INTEGER, "needs_lookup" BOOLEAN,
               "first_claimed_at" TIMESTAMPTZ, "lease_ms" BIGINT)
LANGUAGE plpgsql AS $$
-- The result columns share names with the table's; in statements, a name means the column.
#variable_conflict use_column
DECLARE
  d "deliveries"%ROWTYPE;
  t TIMESTAMPTZ := nudge_now();
  unwanted TEXT;
  suppressed TEXT;
  next_state TEXT;
  next_reason TEXT;
BEGIN
  SELECT * INTO d FROM "deliveries" WHERE "id" = p_id;
  IF NOT FOUND THEN RAISE EXCEPTION 'delivery % does not exist', p_id; END IF;
  IF d."state" = 'pending' THEN unwanted := nudge_unwanted_reason(d); END IF;
  SELECT * INTO d FROM "deliveries" WHERE "id" = p_id FOR UPDATE;

  IF d."state" = 'sending' THEN
    IF d."lease_expires_at" > t THEN
      RETURN QUERY SELECT 'leased', d."state"::text, d."reason", d."fencing_token", d."needs_lookup", d."first_claimed_at",
        ceil(extract(epoch FROM d."lease_expires_at" - t) * 1000)::bigint;
      RETURN;
    END IF;
    UPDATE "deliveries" SET "state" = 'unknown', "fencing_token" = "fencing_token" + 1, "lease_expires_at" = NULL, "updated_at" = t,
      "reason" = 'its claim expired without a recorded outcome (the worker died, stalled or lost its lock); the message may have been sent'
    WHERE "id" = p_id RETURNING * INTO d;
    RETURN QUERY SELECT 'orphaned', d."state"::text, d."reason", d."fencing_token", d."needs_lookup", d."first_claimed_at", 0::bigint;
    RETURN;
  END IF;
  IF d."state" <> 'pending' THEN
    RETURN QUERY SELECT 'settled', d."state"::text, d."reason", d."fencing_token", d."needs_lookup", d."first_claimed_at", 0::bigint;
    RETURN;
  END IF;

  IF unwanted IS NULL THEN unwanted := nudge_unwanted_reason(d); END IF;
  SELECT s."reason" INTO suppressed FROM "suppressions" s
  WHERE s."channel" = d."channel" AND s."address" = CASE WHEN d."channel" = 'email' THEN lower(d."recipient") ELSE d."recipient" END;
  IF unwanted IS NOT NULL THEN
    next_state := 'cancelled'; next_reason := unwanted;
  ELSIF suppressed IS NOT NULL THEN
    next_state := 'skipped'; next_reason := 'opted out: ' || suppressed;
  ELSIF p_skip_reason IS NOT NULL THEN
    next_state := 'skipped'; next_reason := p_skip_reason;
  ELSIF d."deadline" <= t THEN
    next_state := 'skipped';
    next_reason := 'past its deadline ' || to_char(d."deadline" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      || coalesce(' (last attempt: ' || d."reason" || ')', '');
  END IF;
  -- An earlier attempt got a 5xx and nobody has looked since: the message may exist. Whatever stops it now, the
  -- truth is "maybe sent", which is `unknown` (for reconciliation), not a terminal state that would hide it.
  IF next_state IS NOT NULL AND d."needs_lookup" THEN
    next_reason := next_reason || '; an earlier attempt got a provider 5xx, so the message may exist';
    next_state := 'unknown';
  END IF;

  IF next_state IS NOT NULL THEN
    UPDATE "deliveries" SET "state" = next_state::"DeliveryState", "reason" = next_reason, "updated_at" = t
    WHERE "id" = p_id RETURNING * INTO d;
    RETURN QUERY SELECT next_state, d."state"::text, d."reason", d."fencing_token", d."needs_lookup", d."first_claimed_at", 0::bigint;
    RETURN;
  END IF;

  UPDATE "deliveries" SET "state" = 'sending', "fencing_token" = "fencing_token" + 1, "attempts" = "attempts" + 1,
    "claimed_at" = t, "first_claimed_at" = COALESCE("first_claimed_at", t),
    "lease_expires_at" = t + p_lease_ms * interval '1 millisecond', "updated_at" = t
  WHERE "id" = p_id RETURNING * INTO d;
  RETURN QUERY SELECT 'claimed', d."state"::text, d."reason", d."fencing_token", d."needs_lookup", d."first_claimed_at", p_lease_ms::bigint;
END
$$;
