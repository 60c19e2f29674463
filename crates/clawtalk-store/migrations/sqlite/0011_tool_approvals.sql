-- Tool calls waiting for (or given) a person's approval, one row per call of a turn, so a
-- turn re-run after a restart finds its decision instead of asking again; and the
-- "always allow" grants, per account, user and tool.
CREATE TABLE tool_approvals (
    id             TEXT    NOT NULL PRIMARY KEY COLLATE BINARY,
    account_id     TEXT    NOT NULL COLLATE BINARY,
    session_key    TEXT    NOT NULL COLLATE BINARY,
    agent_id       TEXT    NOT NULL COLLATE BINARY,
    requester      TEXT    NOT NULL COLLATE BINARY,
    tool           TEXT    NOT NULL COLLATE BINARY,
    summary        TEXT    NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'allowed', 'denied', 'expired')),
    always         INTEGER NOT NULL DEFAULT 0 CHECK (always IN (0, 1)),
    decided_by     TEXT    COLLATE BINARY,
    created_at_ms  INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    decided_at_ms  INTEGER
) STRICT;

CREATE INDEX tool_approvals_by_time ON tool_approvals (created_at_ms);

CREATE TABLE tool_approval_grants (
    account_id     TEXT    NOT NULL COLLATE BINARY,
    user_id        TEXT    NOT NULL COLLATE BINARY,
    tool           TEXT    NOT NULL COLLATE BINARY,
    granted_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (account_id, user_id, tool)
) STRICT;
