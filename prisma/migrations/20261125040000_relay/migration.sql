-- Requests from other services, relayed from the transactional outbox in their own databases (see packages/client
-- and apps/relay). Postgres stays the system of record: a request is written here, with whatever it creates or
-- changes, in one transaction, before its outbox row is marked relayed and before any job is enqueued.

-- Each request once: unique on the calling service's source name and its idempotency key.
CREATE TABLE "relay_requests" (
    "id" SERIAL NOT NULL,
    "source" TEXT NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    -- A versioned subject (e.g. `appointment:A-17`) and the request's version of it: an older version never
    -- overrides a newer one, whatever order the requests arrive in.
    "subject" TEXT,
    "subject_version" BIGINT,
    "payload" JSONB NOT NULL,
    -- `applied`; `superseded` (a newer version of its subject was applied first); `refused: <reason>`.
    "outcome" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),

    CONSTRAINT "relay_requests_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "relay_requests_source_slug" CHECK ("source" ~ '^[a-z0-9]+(-[a-z0-9]+)*$')
);
CREATE UNIQUE INDEX "relay_requests_source_idempotency_key_key" ON "relay_requests"("source", "idempotency_key");

-- A calling service's own id for a contact or an appointment, and what it is in Nudge. `version` is the latest
-- version of the subject applied; `nudge_id` is NULL for an appointment whose cancel arrived before its creation
-- (the cancel is remembered, so that the older creation relayed after it cannot resurrect it).
CREATE TABLE "external_refs" (
    "source" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "external_id" TEXT NOT NULL,
    "nudge_id" INTEGER,
    "version" BIGINT,
    "state" TEXT,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),

    CONSTRAINT "external_refs_pkey" PRIMARY KEY ("source", "kind", "external_id"),
    CONSTRAINT "external_refs_kind" CHECK ("kind" IN ('contact', 'appointment'))
);

-- One-off messages: an email or SMS that belongs to no plan or campaign, sent through the send guard like every
-- message, and skipped (not sent late) past its deadline. `enqueued` is the scheduler's bookmark, as for enrollments.
CREATE TABLE "one_off_messages" (
    "id" SERIAL NOT NULL,
    "request_id" INTEGER NOT NULL,
    "contact_id" INTEGER NOT NULL,
    "channel" "Channel" NOT NULL,
    "subject" TEXT,
    "body" TEXT NOT NULL,
    "deadline" TIMESTAMPTZ(3) NOT NULL,
    "enqueued" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),

    CONSTRAINT "one_off_messages_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "one_off_messages_channel" CHECK ("channel" IN ('sms', 'email')),
    CONSTRAINT "one_off_messages_subject" CHECK (("channel" = 'email') = ("subject" IS NOT NULL))
);
CREATE UNIQUE INDEX "one_off_messages_request_id_key" ON "one_off_messages"("request_id");
CREATE INDEX "one_off_messages_unenqueued_idx" ON "one_off_messages"("id") WHERE NOT "enqueued";
ALTER TABLE "one_off_messages" ADD CONSTRAINT "one_off_messages_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "relay_requests"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "one_off_messages" ADD CONSTRAINT "one_off_messages_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- The still-wanted condition for one-off messages: wanted while the row exists (its deadline and the suppression
-- list are the claim's own checks). The row is locked FOR SHARE like every source.
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
  IF d."source_type" = 'one-off' THEN
    PERFORM 1 FROM "one_off_messages" WHERE "id" = d."source_id" FOR SHARE;
    IF NOT FOUND THEN RETURN 'one-off message deleted'; END IF;
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'no still-wanted condition for deliveries of source type %', d."source_type";
END
$$;
