-- Pairing: a DM sender gets a short code; the operator approves it with the CLI and the
-- sender joins the account's allowlist.
CREATE TABLE pairing_requests (
    id             INTEGER PRIMARY KEY,
    code           TEXT    NOT NULL UNIQUE COLLATE BINARY,
    account_id     TEXT    NOT NULL,
    -- The sender key: staff id, else the encrypted per-app id (external members).
    sender_id      TEXT    NOT NULL COLLATE BINARY,
    nick           TEXT    NOT NULL,
    -- 'pending' past expires_at_ms reads as expired; 'expired' is stored when superseded.
    status         TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    created_at_ms  INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    decided_at_ms  INTEGER
) STRICT;

CREATE INDEX pairing_pending ON pairing_requests (account_id, sender_id) WHERE status = 'pending';

CREATE TABLE approved_senders (
    account_id     TEXT    NOT NULL,
    sender_id      TEXT    NOT NULL COLLATE BINARY,
    nick           TEXT    NOT NULL,
    approved_at_ms INTEGER NOT NULL,
    via_code       TEXT,
    PRIMARY KEY (account_id, sender_id)
) STRICT, WITHOUT ROWID;
