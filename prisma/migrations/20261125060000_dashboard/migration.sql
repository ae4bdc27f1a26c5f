-- The ops dashboard (apps/dashboard): its users, their sessions, and the audit log of operator decisions.

-- Users live in the database, not in an env var, so that `nudge users add` can add one to a running deployment
-- without a restart and every dashboard process sees the same list. The password is kept as scrypt (node:crypto)
-- with a salt of its own per user: people choose passwords, which can be guessed, so the hash must be slow and
-- salted (unlike an API token's 256 random bits, kept as a plain digest). Format: scrypt$N$r$p$salt$hash (base64).
CREATE TABLE "dashboard_users" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "password_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),

    CONSTRAINT "dashboard_users_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "dashboard_users_role" CHECK ("role" IN ('viewer', 'operator')),
    CONSTRAINT "dashboard_users_name" CHECK ("name" ~ '^[A-Za-z0-9._@-]{1,64}$')
);
CREATE UNIQUE INDEX "dashboard_users_name_key" ON "dashboard_users"("name");

-- A session is a random 256-bit id in the browser's cookie; only its SHA-256 is kept here, so that a copy of this table
-- opens no session. Expiry is judged by the database's clock (nudge_now()), like every lease in Nudge, so all
-- dashboard processes agree on it whatever their own clocks say. Deleting a user ends their sessions.
CREATE TABLE "dashboard_sessions" (
    "id_hash" TEXT NOT NULL,
    "user_id" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "dashboard_sessions_pkey" PRIMARY KEY ("id_hash"),
    CONSTRAINT "dashboard_sessions_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "dashboard_users"("id") ON DELETE CASCADE
);
CREATE INDEX "dashboard_sessions_expires_at_idx" ON "dashboard_sessions"("expires_at");

-- Every operator decision on a send that waits for one (mark sent, release for one resend), with who made it and
-- what came of it. Rows are only ever added.
CREATE TABLE "operator_audit_log" (
    "id" BIGSERIAL NOT NULL,
    "operator" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "delivery_id" INTEGER,
    "detail" TEXT,
    "outcome" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),

    CONSTRAINT "operator_audit_log_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "operator_audit_log_delivery_id_idx" ON "operator_audit_log"("delivery_id");
