-- Tool calls waiting for (or given) a person's approval, one row per call of a turn, shared
-- by every replica, so a turn re-run after a restart or on another replica finds its
-- decision instead of asking again; and the "always allow" grants, per account, user and tool.
CREATE TABLE tool_approvals (
    id             TEXT   NOT NULL PRIMARY KEY COLLATE "C",
    account_id     TEXT   NOT NULL COLLATE "C",
    session_key    TEXT   NOT NULL COLLATE "C",
    agent_id       TEXT   NOT NULL COLLATE "C",
    requester      TEXT   NOT NULL COLLATE "C",
    tool           TEXT   NOT NULL COLLATE "C",
    summary        TEXT   NOT NULL,
    status         TEXT   NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'allowed', 'denied', 'expired')),
    always         BIGINT NOT NULL DEFAULT 0 CHECK (always IN (0, 1)),
    decided_by     TEXT   COLLATE "C",
    created_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    decided_at_ms  BIGINT
);

CREATE INDEX tool_approvals_by_time ON tool_approvals (created_at_ms);

CREATE TABLE tool_approval_grants (
    account_id     TEXT   NOT NULL COLLATE "C",
    user_id        TEXT   NOT NULL COLLATE "C",
    tool           TEXT   NOT NULL COLLATE "C",
    granted_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id, tool)
);
