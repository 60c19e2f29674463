-- no-transaction
--
-- `handed`: the part's request is leaving for DingTalk and its sender has not yet heard back.
-- Written just before the request, so a part DingTalk may have is never sent again by anyone
-- else (the sessionWebhook and robot API have no key DingTalk drops repeats by).
--
-- A CHECK cannot be altered in SQLite, so the table is rebuilt by SQLite's documented
-- procedure, as in 0008 (conditions as `=` and `OR`, which SQLite checks in place).

PRAGMA foreign_keys = OFF;

BEGIN IMMEDIATE;

CREATE TABLE outbox_rebuilt (
    id                  INTEGER PRIMARY KEY,
    inbound_id          INTEGER NOT NULL REFERENCES inbox (id) ON DELETE CASCADE,
    part                INTEGER NOT NULL CHECK (part >= 0),
    idempotency_key     TEXT    NOT NULL UNIQUE,
    kind                TEXT    NOT NULL,
    body_json           TEXT    NOT NULL,
    status              TEXT    NOT NULL DEFAULT 'planned' CHECK (
                            status = 'planned' OR status = 'handed' OR status = 'sent'
                            OR status = 'failed'),
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
INSERT INTO outbox_rebuilt (id, inbound_id, part, idempotency_key, kind, body_json, status,
        attempts, lease_owner, lease_incarnation, lease_expires_at_ms, created_at_ms,
        updated_at_ms, sent_at_ms, process_query_key, response_json, last_error)
    SELECT id, inbound_id, part, idempotency_key, kind, body_json, status,
        attempts, lease_owner, lease_incarnation, lease_expires_at_ms, created_at_ms,
        updated_at_ms, sent_at_ms, process_query_key, response_json, last_error
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_rebuilt RENAME TO outbox;
CREATE INDEX outbox_unsent ON outbox (id) WHERE status = 'planned';

-- Fails the migration (and so rolls it back) if the copy broke a reference.
CREATE TEMP TABLE migration_0014_check (broken_references INTEGER CHECK (broken_references = 0));
INSERT INTO migration_0014_check SELECT COUNT(*) FROM pragma_foreign_key_check;
DROP TABLE migration_0014_check;

COMMIT;

PRAGMA foreign_keys = ON;
