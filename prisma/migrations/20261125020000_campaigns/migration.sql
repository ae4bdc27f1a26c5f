-- Drip campaigns: definitions loaded from the repo's campaign files, their immutable versions and steps, and the
-- enrollments of leads in them. Every timestamp default reads nudge_now(), the one clock (see the send-guard
-- migration), so that a test moving the database's clock moves these too.

CREATE TYPE "EnrollmentState" AS ENUM ('active', 'completed', 'stopped');

-- A campaign by its slug (the `id` of its file); its name is the latest loaded version's.
CREATE TABLE "campaigns" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),

    CONSTRAINT "campaigns_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "campaigns_id_slug" CHECK ("id" ~ '^[a-z0-9]+(-[a-z0-9]+)*$')
);

-- One version of a campaign's file, as validated (defaults filled in). `checksum` is sha256 of its canonical JSON:
-- loading the same version again compares checksums. Once an enrollment uses a version it never changes (the
-- loader refuses, and the trigger below refuses a second time).
CREATE TABLE "campaign_versions" (
    "campaign_id" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "definition" JSONB NOT NULL,
    "checksum" TEXT NOT NULL,
    "staleness_hours" DOUBLE PRECISION NOT NULL,
    "timezone_fallback" TEXT,
    "loaded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),

    CONSTRAINT "campaign_versions_pkey" PRIMARY KEY ("campaign_id", "version"),
    CONSTRAINT "campaign_versions_version_positive" CHECK ("version" > 0),
    CONSTRAINT "campaign_versions_staleness_positive" CHECK ("staleness_hours" > 0)
);

-- A version's steps in order (`position` from 0), as columns for the daily pass; `step_id` is the identity that
-- survives edits (migrating enrollments matches steps by it).
CREATE TABLE "campaign_steps" (
    "campaign_id" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "step_id" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "channel" "Channel" NOT NULL,
    "subject" TEXT,
    "template" TEXT NOT NULL,
    "delay_hours" DOUBLE PRECISION NOT NULL,
    "send_window" JSONB,

    CONSTRAINT "campaign_steps_pkey" PRIMARY KEY ("campaign_id", "version", "step_id"),
    CONSTRAINT "campaign_steps_channel" CHECK ("channel" IN ('sms', 'email')),
    CONSTRAINT "campaign_steps_delay" CHECK ("delay_hours" >= 0),
    CONSTRAINT "campaign_steps_subject" CHECK (("channel" = 'email') = ("subject" IS NOT NULL))
);
CREATE UNIQUE INDEX "campaign_steps_campaign_id_version_position_key" ON "campaign_steps"("campaign_id", "version", "position");

-- A lead in a campaign. `position` is the index (in its version's steps) of the next step to send: the number of
-- steps done while the enrollment never changed version. `done_step_ids` are the ids of the steps it has advanced
-- past (their delivery exists), in order: migrating to another version matches steps by id, so none is sent twice.
-- `next_due_at` is when the next step is due (NULL once completed or stopped); `last_step_at` when the enrollment
-- last advanced (the base of the next step's delay; enrolled_at before the first).
-- `enrollment_round`: a lead is in a campaign once per round; round 2 and later exist only when re-enrolment was
-- asked for explicitly.
CREATE TABLE "enrollments" (
    "id" SERIAL NOT NULL,
    "contact_id" INTEGER NOT NULL,
    "campaign_id" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "enrollment_round" INTEGER NOT NULL DEFAULT 1,
    "position" INTEGER NOT NULL DEFAULT 0,
    "done_step_ids" TEXT[] NOT NULL DEFAULT '{}',
    "next_due_at" TIMESTAMPTZ(3),
    "last_step_at" TIMESTAMPTZ(3),
    "state" "EnrollmentState" NOT NULL DEFAULT 'active',
    "stop_reason" TEXT,
    "enrolled_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),

    CONSTRAINT "enrollments_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "enrollments_round_positive" CHECK ("enrollment_round" > 0),
    CONSTRAINT "enrollments_position" CHECK ("position" >= 0),
    CONSTRAINT "enrollments_active_is_due" CHECK (("state" = 'active') = ("next_due_at" IS NOT NULL)),
    CONSTRAINT "enrollments_stop_reason" CHECK (("state" = 'stopped') = ("stop_reason" IS NOT NULL))
);
CREATE UNIQUE INDEX "enrollments_contact_id_campaign_id_enrollment_round_key" ON "enrollments"("contact_id", "campaign_id", "enrollment_round");
-- At most one round of a campaign in progress per lead, even when two re-enrolments race.
CREATE UNIQUE INDEX "enrollments_one_active_round" ON "enrollments"("contact_id", "campaign_id") WHERE "state" = 'active';
-- The daily pass: active enrollments by due time (partial, which schema.prisma cannot express).
CREATE INDEX "enrollments_due_idx" ON "enrollments"("next_due_at", "id") WHERE "state" = 'active';
CREATE INDEX "enrollments_campaign_id_version_idx" ON "enrollments"("campaign_id", "version");

ALTER TABLE "campaign_versions" ADD CONSTRAINT "campaign_versions_campaign_id_fkey" FOREIGN KEY ("campaign_id") REFERENCES "campaigns"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "campaign_steps" ADD CONSTRAINT "campaign_steps_campaign_id_version_fkey" FOREIGN KEY ("campaign_id", "version") REFERENCES "campaign_versions"("campaign_id", "version") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "enrollments" ADD CONSTRAINT "enrollments_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "enrollments" ADD CONSTRAINT "enrollments_campaign_id_version_fkey" FOREIGN KEY ("campaign_id", "version") REFERENCES "campaign_versions"("campaign_id", "version") ON DELETE RESTRICT ON UPDATE CASCADE;

-- A version in use is immutable: the loader checks first and says what to do, and this refuses any change that
-- slips past it (a hand-written UPDATE, a loader racing an enrollment).
CREATE FUNCTION "nudge_refuse_change_of_used_version"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r RECORD;
BEGIN
  IF TG_OP = 'INSERT' THEN r := NEW; ELSE r := OLD; END IF;
  IF EXISTS (SELECT 1 FROM "enrollments" e WHERE e."campaign_id" = r."campaign_id" AND e."version" = r."version") THEN
    RAISE EXCEPTION 'campaign % version % has enrollments and cannot change; load the edit as version % instead',
      r."campaign_id", r."version", r."version" + 1;
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER "campaign_versions_immutable_when_used" BEFORE UPDATE OR DELETE ON "campaign_versions"
  FOR EACH ROW EXECUTE FUNCTION "nudge_refuse_change_of_used_version"();
CREATE TRIGGER "campaign_steps_immutable_when_used" BEFORE INSERT OR UPDATE OR DELETE ON "campaign_steps"
  FOR EACH ROW EXECUTE FUNCTION "nudge_refuse_change_of_used_version"();
