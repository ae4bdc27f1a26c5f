-- The HTTP API (apps/api, /v1): bearer tokens, and the idempotency keys of the requests made with them.

-- A token is 32 random bytes; only its SHA-256 is kept. A salted slow hash (bcrypt, scrypt) is for passwords, which
-- people choose and which can be guessed; 256 random bits cannot be, and a plain digest lets the API find a token
-- with one indexed lookup per request (no cache, so a revoked token fails on its next request).
CREATE TABLE "api_tokens" (
    "id" SERIAL NOT NULL,
    "name" TEXT,
    -- The service the token speaks for: its requests are relay_requests of this source, its keys this source's keys.
    "source" TEXT NOT NULL,
    "scopes" TEXT[] NOT NULL,
    "token_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_tokens_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "api_tokens_source_slug" CHECK ("source" ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    CONSTRAINT "api_tokens_scopes" CHECK (cardinality("scopes") > 0 AND "scopes" <@ ARRAY['send', 'read', 'admin']::TEXT[])
);
CREATE UNIQUE INDEX "api_tokens_token_hash_key" ON "api_tokens"("token_hash");

-- One row per (source, Idempotency-Key) of a POST: `processing` while its first request is in flight (a lease on the
-- database's clock, so that a request whose process died can be taken over), then `done` with the response as it
-- was sent, which every replay gets back byte for byte. Kept as long as the requests it made (no expiry): a client
-- that retries a week later still gets the first answer, never a second message. `id` orders the API's requests,
-- as an outbox row's id orders a service's outbox requests (the contact details of the latest request win).
CREATE TABLE "api_idempotency" (
    "id" BIGSERIAL NOT NULL,
    "source" TEXT NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    -- The attempt holding a `processing` row; only it may complete it.
    "owner" TEXT,
    "locked_until" TIMESTAMPTZ(3),
    "status_code" INTEGER,
    "response_body" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),

    CONSTRAINT "api_idempotency_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "api_idempotency_state" CHECK ("state" IN ('processing', 'done')),
    CONSTRAINT "api_idempotency_done" CHECK (("state" = 'done') = ("status_code" IS NOT NULL AND "response_body" IS NOT NULL))
);
CREATE UNIQUE INDEX "api_idempotency_source_idempotency_key_key" ON "api_idempotency"("source", "idempotency_key");
