-- AI cards the gateway opened: enough to finalize the ones a crash left streaming, and to
-- route a card's button callbacks back to its conversation.
CREATE TABLE cards (
    out_track_id    TEXT   PRIMARY KEY COLLATE "C",
    account_id      TEXT   NOT NULL,
    inbound_id      BIGINT,
    session_key     TEXT   NOT NULL COLLATE "C",
    conversation_id TEXT   NOT NULL COLLATE "C",
    -- The last content pushed into the card, so a restart can close it with what users saw.
    content         TEXT   NOT NULL DEFAULT '',
    status          TEXT   NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'finished', 'failed', 'interrupted')),
    created_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL
);

CREATE INDEX cards_open ON cards (account_id) WHERE status = 'open';
