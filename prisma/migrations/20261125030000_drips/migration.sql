-- Drip steps on the send guard: the daily pass's bookmark, the step in flight, the settle hook, and the
-- still-wanted condition of an enrollment's deliveries.

-- `enqueued`: the daily pass has enqueued the job of the enrollment's current step (its bookmark); advancing,
-- migrating or a sweep sets it back to false. `awaiting_key`: the idempotency key of the step in flight, whose
-- delivery has not settled yet; the next step is not due while it is set.
ALTER TABLE "enrollments" ADD COLUMN "enqueued" BOOLEAN NOT NULL DEFAULT false,
                          ADD COLUMN "awaiting_key" TEXT;

-- The daily pass reads only what it has to enqueue: active, due, not in flight, not enqueued yet. A repeated pass
-- over unchanged enrollments finds this index empty below now.
DROP INDEX "enrollments_due_idx";
CREATE INDEX "enrollments_due_idx" ON "enrollments"("next_due_at", "id")
  WHERE "state" = 'active' AND NOT "enqueued" AND "awaiting_key" IS NULL;
-- Stop conditions find a lead's enrollments in progress.
CREATE INDEX "enrollments_contact_active_idx" ON "enrollments"("contact_id") WHERE "state" = 'active';

-- The settle hook, in the ledger: whatever settles an enrollment's delivery (the worker's record, the claim, the
-- reconciler, the scheduler's clean-up), the enrollment's next step becomes due in the same transaction, never
-- sooner than its delay after this settle. It cannot be skipped by a crash between the settle and a callback.
CREATE FUNCTION "nudge_enrollment_step_settled"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "enrollments" e SET
    "awaiting_key" = NULL,
    "last_step_at" = nudge_now(),
    "next_due_at" = CASE WHEN e."state" = 'active' THEN GREATEST(e."next_due_at",
      nudge_now() + COALESCE((SELECT s."delay_hours" FROM "campaign_steps" s
                              WHERE s."campaign_id" = e."campaign_id" AND s."version" = e."version" AND s."position" = e."position"), 0)
                     * interval '1 hour') END,
    "updated_at" = nudge_now()
  WHERE e."id" = NEW."source_id" AND e."awaiting_key" = NEW."idempotency_key";
  RETURN NEW;
END
$$;
CREATE TRIGGER "deliveries_enrollment_step_settled" AFTER UPDATE OF "state" ON "deliveries"
  FOR EACH ROW
  WHEN (NEW."source_type" = 'enrollment' AND OLD."state" IN ('pending', 'sending', 'unknown')
        AND NEW."state" IN ('sent', 'failed', 'skipped', 'cancelled', 'undelivered'))
  EXECUTE FUNCTION "nudge_enrollment_step_settled"();

-- A delivery settled when it is created (never claimed: settled by a stop or a rejection before the send).
CREATE TRIGGER "deliveries_enrollment_step_created_settled" AFTER INSERT ON "deliveries"
  FOR EACH ROW
  WHEN (NEW."source_type" = 'enrollment' AND NEW."state" IN ('sent', 'failed', 'skipped', 'cancelled', 'undelivered'))
  EXECUTE FUNCTION "nudge_enrollment_step_settled"();

-- The still-wanted condition, now for enrollments too: a stopped enrollment wants nothing more. The claim locks the
-- enrollment FOR SHARE and a stop updates it, so the two serialize: a stop that commits first wins over any send
-- not yet claimed; a stop that commits second finds the step in flight and reports it.
CREATE OR REPLACE FUNCTION "nudge_unwanted_reason"(d "deliveries") RETURNS TEXT LANGUAGE plpgsql AS $$
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
  IF d."source_type" = 'enrollment' THEN
    SELECT "state"::text AS state, "stop_reason" INTO a FROM "enrollments" WHERE "id" = d."source_id" FOR SHARE;
    IF NOT FOUND THEN RETURN 'enrollment deleted'; END IF;
    IF a.state = 'stopped' THEN RETURN 'enrollment stopped: ' || a.stop_reason; END IF;
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'no still-wanted condition for deliveries of source type %', d."source_type";
END
$$;

-- A sweep finds the steps in flight whose job may have been lost.
CREATE INDEX "enrollments_awaiting_idx" ON "enrollments"("id") WHERE "awaiting_key" IS NOT NULL;
