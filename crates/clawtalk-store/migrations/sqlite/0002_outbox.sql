-- Outbox: each reply part is written before it is sent and marked sent right after, so a
-- restart resends exactly the parts that were never confirmed.
CREATE TABLE outbox (
    id                  INTEGER PRIMARY KEY,
    inbound_id          INTEGER NOT NULL REFERENCES inbox (id) ON DELETE CASCADE,
    part                INTEGER NOT NULL CHECK (part >= 0),
    -- Stable per (robot_code, msg_id, part): the send's idempotency key where the API has one.
    idempotency_key     TEXT    NOT NULL UNIQUE,
    kind                TEXT    NOT NULL,
    body_json           TEXT    NOT NULL,
    status              TEXT    NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'sent', 'failed')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_incarnation   TEXT,
    lease_expires_at_ms INTEGER,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL,
    sent_at_ms          INTEGER,
    process_query_key   TEXT,
    response_json       TEXT,
    last_error          TEXT,
    UNIQUE (inbound_id, part)
) STRICT;

CREATE INDEX outbox_unsent ON outbox (id) WHERE status = 'planned';
