-- Scheduled tasks: an agent turn run on a cron expression or once, whose answer goes to a
-- custom robot webhook, a user's DM or a group.
CREATE TABLE cron_tasks (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id          TEXT   NOT NULL,
    agent_id            TEXT   NOT NULL,
    name                TEXT   NOT NULL,
    prompt              TEXT   NOT NULL,
    schedule_kind       TEXT   NOT NULL CHECK (schedule_kind IN ('cron', 'once')),
    -- The cron expression, or the one-shot time as RFC 3339.
    schedule            TEXT   NOT NULL,
    timezone            TEXT   NOT NULL,
    target_kind         TEXT   NOT NULL CHECK (target_kind IN ('user', 'group', 'webhook')),
    -- Staff id, openConversationId, or the webhook URL (a credential: never logged).
    target              TEXT   NOT NULL COLLATE "C",
    webhook_secret      TEXT,
    -- Who asked for it and in which chat ('user:<staffId>' / 'group:<cid>').
    created_by          TEXT            COLLATE "C",
    origin              TEXT            COLLATE "C",
    status              TEXT   NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'done', 'cancelled')),
    -- The next scheduled run; NULL once a one-shot task has fired.
    next_run_at_ms      BIGINT,
    -- Set by `clawtalk cron run-now`: run once as soon as a gateway sees it.
    run_requested_at_ms BIGINT,
    -- A gateway firing the task holds this lease; another may take over once it lapses.
    lease_owner         TEXT,
    lease_incarnation   TEXT,
    lease_expires_at_ms BIGINT,
    runs                BIGINT NOT NULL DEFAULT 0,
    last_run_at_ms      BIGINT,
    last_status         TEXT   CHECK (last_status IN ('ok', 'failed', 'missed')),
    last_error          TEXT,
    created_at_ms       BIGINT NOT NULL,
    updated_at_ms       BIGINT NOT NULL
);

-- The claim's scan: active tasks by due time.
CREATE INDEX cron_tasks_due ON cron_tasks (next_run_at_ms) WHERE status = 'active';
