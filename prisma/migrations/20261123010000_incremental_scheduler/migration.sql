-- The scheduler's bookmark on each appointment, so that a pass reads only what became due since the last one:
-- "a pass costs what is new, not what exists".
ALTER TABLE "appointments" ADD COLUMN "next_due_at" TIMESTAMPTZ(3),
                           ADD COLUMN "enqueued_step" INTEGER NOT NULL DEFAULT 0;

-- Partial index (not expressible in schema.prisma): only scheduled appointments are ever due.
CREATE INDEX "appointments_next_due_at_idx" ON "appointments"("next_due_at") WHERE "status" = 'scheduled';

-- A new start time or a status change makes the appointment new work for the scheduler, whoever wrote it: the
-- bookmark is reset in the database itself, so no writer can forget to.
CREATE FUNCTION "nudge_reset_reminder_bookmark"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."starts_at" IS DISTINCT FROM OLD."starts_at" OR NEW."status" IS DISTINCT FROM OLD."status" THEN
    NEW."next_due_at" := NULL;
    NEW."enqueued_step" := 0;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER "appointments_reset_reminder_bookmark"
  BEFORE UPDATE OF "starts_at", "status" ON "appointments"
  FOR EACH ROW EXECUTE FUNCTION "nudge_reset_reminder_bookmark"();
