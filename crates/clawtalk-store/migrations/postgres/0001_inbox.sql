-- Inbox: every inbound bot message, written before its Stream frame is acked.
--
-- Text keys use the "C" collation: DingTalk ids are case-sensitive byte strings, and two
-- conversations can differ only by case. Integers are BIGINT throughout: times are epoch ms.
CREATE TABLE inbox (
    id                  BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id          TEXT    NOT NULL,
    robot_code          TEXT    NOT NULL COLLATE "C",
    msg_id              TEXT    NOT NULL COLLATE "C",
    conversation_id     TEXT    NOT NULL COLLATE "C",
    sender_staff_id     TEXT             COLLATE "C",
    session_key         TEXT    NOT NULL COLLATE "C",
    received_at_ms      BIGINT  NOT NULL,
    raw_payload_json    TEXT    NOT NULL,
    text                TEXT    NOT NULL,
    status              TEXT    NOT NULL DEFAULT 'received' CHECK (status IN
                            ('received', 'queued', 'running', 'replied', 'failed', 'cancelled', 'ignored')),
    -- Times claimed; more than one means a crash or a lapsed lease (poison-message guard).
    attempts            BIGINT  NOT NULL DEFAULT 0,
    -- Lease of a running turn: who holds it and until when. Owner is the stable instance
    -- name, incarnation the per-process random part (see WorkerId).
    lease_owner         TEXT,
    lease_incarnation   TEXT,
    lease_expires_at_ms BIGINT,
    updated_at_ms       BIGINT  NOT NULL,
    error               TEXT,
    -- Dedup across redeliveries, restarts and replicas (INSERT … ON CONFLICT DO NOTHING).
    UNIQUE (robot_code, msg_id)
);

-- Open rows only, so queue scans stay small however long the history grows.
CREATE INDEX inbox_open ON inbox (id)
    WHERE status IN ('received', 'queued', 'running');
CREATE INDEX inbox_open_by_session ON inbox (session_key, id)
    WHERE status IN ('received', 'queued', 'running');
-- One turn at a time per session, enforced by the database itself across every replica.
CREATE UNIQUE INDEX inbox_one_running_per_session ON inbox (session_key)
    WHERE status = 'running';
-- Running turns by lease expiry: finds the ones whose worker died.
CREATE INDEX inbox_running_by_expiry ON inbox (lease_expires_at_ms)
    WHERE status = 'running';
-- Purging finished history.
CREATE INDEX inbox_updated ON inbox (updated_at_ms);
