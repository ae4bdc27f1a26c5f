-- @nudge/client: the transactional outbox, in the calling service's own database.
--
-- A service writes its own rows and a request to Nudge in one transaction (a row here), so that both commit or
-- neither does; Nudge's relay copies committed rows into Nudge's database and marks them relayed. Re-running this
-- file is harmless: every statement is IF NOT EXISTS or OR REPLACE. Needs PostgreSQL 14 or later (CREATE OR REPLACE
-- TRIGGER).

CREATE TABLE IF NOT EXISTS nudge_outbox (
  id BIGSERIAL PRIMARY KEY,
  source TEXT NOT NULL,                 -- the service's source name (a slug: a-z0-9 and single dashes)
  idempotency_key TEXT NOT NULL,        -- the caller's key
  kind TEXT NOT NULL,                   -- see request kinds
  subject TEXT,                         -- versioned subject, e.g. 'appointment:A-17'
  subject_version BIGINT,
  payload JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  relayed_at TIMESTAMPTZ,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  CONSTRAINT nudge_outbox_source_key UNIQUE (source, idempotency_key)
);

-- The relay's work list: only rows not yet relayed, so that the index stays small however many relayed rows wait
-- for pruning.
CREATE INDEX IF NOT EXISTS nudge_outbox_unrelayed_idx ON nudge_outbox (id) WHERE relayed_at IS NULL;

-- Wake the relays: one notification per inserting statement, delivered only when the transaction commits (a
-- rolled-back request wakes nobody), and Postgres folds identical notifications of one transaction into one. A
-- statement that inserted nothing (a retried key) still notifies; the relay finds nothing new and waits again. The
-- relays poll slowly as well, so a notification lost while no relay listened delays a request, never loses it.
CREATE OR REPLACE FUNCTION nudge_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('nudge_outbox', '');
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER nudge_outbox_notify
  AFTER INSERT ON nudge_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION nudge_outbox_notify();
