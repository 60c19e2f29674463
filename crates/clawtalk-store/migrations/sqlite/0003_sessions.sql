-- Sessions: one row per session key; `generation` is the history epoch (idle reset, /new).
CREATE TABLE sessions (
    id                       INTEGER PRIMARY KEY,
    session_key              TEXT    NOT NULL UNIQUE COLLATE BINARY,
    agent_id                 TEXT    NOT NULL,
    generation               INTEGER NOT NULL DEFAULT 1 CHECK (generation >= 1),
    created_at_ms            INTEGER NOT NULL,
    generation_started_at_ms INTEGER NOT NULL,
    last_active_ms           INTEGER NOT NULL
) STRICT;

-- Transcripts of every generation are kept; only the current one is loaded.
CREATE TABLE transcript (
    id           INTEGER PRIMARY KEY,
    session_id   INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    generation   INTEGER NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content_json TEXT    NOT NULL,
    -- No foreign key: inbox history is purged sooner than transcripts.
    inbound_id   INTEGER,
    at_ms        INTEGER NOT NULL
) STRICT;

CREATE INDEX transcript_by_generation ON transcript (session_id, generation, id);
