-- The send guard: one clock, leases, kinds and sources, suppressions, and the claim as one database function.

-- One clock. Every statement that reads the time calls nudge_now(), so that leases, deadlines and "is this claim
-- abandoned?" are judged by the database's clock, never a worker's. In production it is now(). A test may move it
-- (simulated hours) by writing one row to nudge_test_clock; nothing in the product writes that table, and the apps
-- refuse to start when it holds a row outside NODE_ENV=test.
CREATE TABLE "nudge_test_clock" (
    "singleton" BOOLEAN PRIMARY KEY DEFAULT true CHECK ("singleton"),
    "offset_ms" BIGINT NOT NULL
);

CREATE FUNCTION "nudge_now"() RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT now() + COALESCE((SELECT "offset_ms" FROM "nudge_test_clock"), 0) * interval '1 millisecond'
$$;

-- What a delivery is and what it belongs to, beyond appointments: the kind of message (reminder; later drip steps,
-- one-off messages) and its source object, which the still-wanted condition looks at when the delivery is claimed.
ALTER TABLE "deliveries" ADD COLUMN "kind" TEXT NOT NULL DEFAULT 'reminder',
                         ADD COLUMN "source_type" TEXT NOT NULL DEFAULT 'appointment',
                         ADD COLUMN "source_id" INTEGER,
                         ADD COLUMN "subject" TEXT,
                         ADD COLUMN "lease_expires_at" TIMESTAMPTZ(3);
UPDATE "deliveries" SET "source_id" = "appointment_id";
ALTER TABLE "deliveries" ALTER COLUMN "kind" DROP DEFAULT, ALTER COLUMN "source_type" DROP DEFAULT;
CREATE INDEX "deliveries_source_type_source_id_idx" ON "deliveries"("source_type", "source_id");
CREATE INDEX "deliveries_recipient_channel_idx" ON "deliveries"("recipient", "channel");

-- Addresses that must not be messaged on a channel (an opt-out). Checked in the claim.
CREATE TABLE "suppressions" (
    "id" SERIAL NOT NULL,
    "channel" "Channel" NOT NULL,
    "address" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "suppressions_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "suppressions_channel_address_key" ON "suppressions"("channel", "address");

-- The still-wanted condition of each source type, run inside the claim. It locks the source row FOR SHARE, so that a
-- claim and a cancel (an UPDATE of that row) serialize: a cancel that commits first is seen by the claim (which
-- then does not claim), and a cancel that comes second waits until the claim has committed and then finds the
-- delivery in flight. NULL means still wanted; otherwise the reason it is not.
CREATE FUNCTION "nudge_unwanted_reason"(d "deliveries") RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
  a RECORD;
BEGIN
  IF d."source_type" = 'appointment' THEN
    SELECT "status"::text AS status, "starts_at" INTO a FROM "appointments" WHERE "id" = d."source_id" FOR SHARE;
    IF NOT FOUND THEN RETURN 'appointment deleted'; END IF;
    IF a.status <> 'scheduled' THEN RETURN 'appointment ' || a.status; END IF;
    IF a.starts_at IS DISTINCT FROM d."appointment_starts_at" THEN RETURN 'appointment rescheduled'; END IF;
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'no still-wanted condition for deliveries of source type %', d."source_type";
END
$$;

-- The claim, in one round trip, on the database's clock. Locks the source first and the delivery second (a cancel
-- takes them in the same order), then decides:
--   sending, lease live      -> 'leased' (the holder may still be sending: come back when the lease ends)
--   sending, lease expired   -> 'orphaned': unknown with a new token, so the old holder can no longer record
--   settled                  -> 'settled'
--   pending, not wanted      -> 'cancelled'; opted out, skip requested or past its deadline -> 'skipped'
--                               (each of these 'unknown' instead when an earlier attempt got a 5xx: it may exist)
--   pending                  -> 'claimed': sending, token + 1, lease until now + p_lease_ms
CREATE FUNCTION "nudge_claim_delivery"(p_id INTEGER, p_lease_ms INTEGER, p_skip_reason TEXT DEFAULT NULL)
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
  SELECT s."reason" INTO suppressed FROM "suppressions" s WHERE s."channel" = d."channel" AND s."address" = d."recipient";
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
