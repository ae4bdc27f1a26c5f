-- One-off messages whose jobs are being added. A transaction that creates one-off messages (a relay's batch, a group
-- of API requests) writes them with `enqueued` already true and one handoff row naming them all; the process that
-- wrote it adds their jobs and then deletes the row. A row left behind (that process died, or Redis is down) is
-- taken over by an enqueuer's sweep, or the scheduler's one-off pass, once it is older than their threshold: they
-- add its jobs (jobIds make a second add a no-op) and delete it.
--
-- Why not the `enqueued` bookmark alone, set after the jobs are added: that rewrote every message row once more (a
-- non-HOT update of a wide row, its index entries with it), which was a tenth of the relay's cost per message and a
-- dead row per message for vacuum. A handoff costs a row per transaction. `enqueued = false` remains what the
-- scheduler's sweep sets when Redis may have lost the jobs, and its pass clears.
CREATE TABLE "one_off_handoffs" (
    "id" BIGSERIAL NOT NULL,
    "message_ids" INTEGER[] NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT nudge_now(),

    CONSTRAINT "one_off_handoffs_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "one_off_handoffs_not_empty" CHECK (cardinality("message_ids") > 0)
);
