-- no-transaction
--
-- The same rules as before, written so SQLite checks them in place.
--
-- SQLite evaluates `x IN (a, b, c)` with three or more constants by building a temporary
-- b-tree on every execution of the statement. The inbox CHECK and the conditions of its two
-- partial indexes did that on every write of a message: five temporary b-trees per status
-- update, most of each update's cost and about a tenth of the gateway's CPU. Written as `=`
-- and `OR`, the same conditions cost a few comparisons. The outbox and transcript CHECKs
-- are on the same path.
--
-- A CHECK cannot be altered in SQLite, so the three tables are rebuilt by SQLite's documented
-- procedure: foreign keys off (outside any transaction, hence `no-transaction` above), copy
-- into a new table, drop the old, rename, recreate the indexes, check the keys, commit.

PRAGMA foreign_keys = OFF;

BEGIN IMMEDIATE;

CREATE TABLE inbox_rebuilt (
    id                  INTEGER PRIMARY KEY,
    account_id          TEXT    NOT NULL,
    robot_code          TEXT    NOT NULL COLLATE BINARY,
    msg_id              TEXT    NOT NULL COLLATE BINARY,
    conversation_id     TEXT    NOT NULL COLLATE BINARY,
    sender_staff_id     TEXT             COLLATE BINARY,
    session_key         TEXT    NOT NULL COLLATE BINARY,
    received_at_ms      INTEGER NOT NULL,
    raw_payload_json    TEXT    NOT NULL,
    text                TEXT    NOT NULL,
    status              TEXT    NOT NULL DEFAULT 'received' CHECK (
                            status = 'received' OR status = 'queued' OR status = 'running'
                            OR status = 'replied' OR status = 'failed' OR status = 'cancelled'
                            OR status = 'ignored'),
    attempts            INTEGER NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_incarnation   TEXT,
    lease_expires_at_ms INTEGER,
    updated_at_ms       INTEGER NOT NULL,
    error               TEXT,
    UNIQUE (robot_code, msg_id)
) STRICT;
INSERT INTO inbox_rebuilt (id, account_id, robot_code, msg_id, conversation_id, sender_staff_id,
        session_key, received_at_ms, raw_payload_json, text, status, attempts, lease_owner,
        lease_incarnation, lease_expires_at_ms, updated_at_ms, error)
    SELECT id, account_id, robot_code, msg_id, conversation_id, sender_staff_id,
        session_key, received_at_ms, raw_payload_json, text, status, attempts, lease_owner,
        lease_incarnation, lease_expires_at_ms, updated_at_ms, error
    FROM inbox;
DROP TABLE inbox;
ALTER TABLE inbox_rebuilt RENAME TO inbox;
-- Open rows: a query's `status = '…'` term implies these conditions, so it needs no copy of them.
CREATE INDEX inbox_open ON inbox (id)
    WHERE status = 'received' OR status = 'queued' OR status = 'running';
CREATE INDEX inbox_open_by_session ON inbox (session_key, id)
    WHERE status = 'received' OR status = 'queued' OR status = 'running';
CREATE UNIQUE INDEX inbox_one_running_per_session ON inbox (session_key)
    WHERE status = 'running';
CREATE INDEX inbox_running_by_expiry ON inbox (lease_expires_at_ms)
    WHERE status = 'running';
CREATE INDEX inbox_updated ON inbox (updated_at_ms);

CREATE TABLE outbox_rebuilt (
    id                  INTEGER PRIMARY KEY,
    inbound_id          INTEGER NOT NULL REFERENCES inbox (id) ON DELETE CASCADE,
    part                INTEGER NOT NULL CHECK (part >= 0),
    idempotency_key     TEXT    NOT NULL UNIQUE,
    kind                TEXT    NOT NULL,
    body_json           TEXT    NOT NULL,
    status              TEXT    NOT NULL DEFAULT 'planned' CHECK (
                            status = 'planned' OR status = 'sent' OR status = 'failed'),
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

CREATE TABLE transcript_rebuilt (
    id           INTEGER PRIMARY KEY,
    session_id   INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    generation   INTEGER NOT NULL,
    role         TEXT    NOT NULL CHECK (
                     role = 'system' OR role = 'user' OR role = 'assistant' OR role = 'tool'),
    content_json TEXT    NOT NULL,
    -- No foreign key: inbox history is purged sooner than transcripts.
    inbound_id   INTEGER,
    at_ms        INTEGER NOT NULL
) STRICT;
INSERT INTO transcript_rebuilt (id, session_id, generation, role, content_json, inbound_id, at_ms)
    SELECT id, session_id, generation, role, content_json, inbound_id, at_ms FROM transcript;
DROP TABLE transcript;
ALTER TABLE transcript_rebuilt RENAME TO transcript;
CREATE INDEX transcript_by_generation ON transcript (session_id, generation, id);

-- Fails the migration (and so rolls it back) if the copy broke a reference.
CREATE TEMP TABLE migration_0008_check (broken_references INTEGER CHECK (broken_references = 0));
INSERT INTO migration_0008_check SELECT COUNT(*) FROM pragma_foreign_key_check;
DROP TABLE migration_0008_check;

COMMIT;

PRAGMA foreign_keys = ON;
