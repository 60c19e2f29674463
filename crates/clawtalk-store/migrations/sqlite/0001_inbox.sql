-- Inbox: every inbound bot message, written before its Stream frame is acked.
--
-- Text keys use BINARY collation (SQLite's default, spelled out so nobody "fixes" it):
-- DingTalk ids are case-sensitive and two conversations can differ only by case.
CREATE TABLE inbox (
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
    status              TEXT    NOT NULL DEFAULT 'received' CHECK (status IN
                            ('received', 'queued', 'running', 'replied', 'failed', 'cancelled', 'ignored')),
    -- Times claimed; more than one means a crash or a lapsed lease (poison-message guard).
    attempts            INTEGER NOT NULL DEFAULT 0,
    -- Lease of a running turn: who holds it and until when. Owner is the stable instance
    -- name, incarnation the per-process random part (see WorkerId).
    lease_owner         TEXT,
    lease_incarnation   TEXT,
    lease_expires_at_ms INTEGER,
    updated_at_ms       INTEGER NOT NULL,
    error               TEXT,
    -- Dedup across redeliveries and restarts.
    UNIQUE (robot_code, msg_id)
) STRICT;

-- Open rows only, so queue scans stay small however long the history grows.
-- Queries repeat the index's WHERE term literally so SQLite can use these partial indexes.
CREATE INDEX inbox_open ON inbox (id)
    WHERE status IN ('received', 'queued', 'running');
CREATE INDEX inbox_open_by_session ON inbox (session_key, id)
    WHERE status IN ('received', 'queued', 'running');
-- One turn at a time per session, enforced by the database itself; also answers "does
-- this session have a running turn?" for the claim.
CREATE UNIQUE INDEX inbox_one_running_per_session ON inbox (session_key)
    WHERE status = 'running';
-- Running turns by lease expiry: finds the ones whose worker died.
CREATE INDEX inbox_running_by_expiry ON inbox (lease_expires_at_ms)
    WHERE status = 'running';
-- Purging finished history.
CREATE INDEX inbox_updated ON inbox (updated_at_ms);
