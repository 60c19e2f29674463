-- Sessions: one row per session key; `generation` is the history epoch (idle reset, /new).
CREATE TABLE sessions (
    id                       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_key              TEXT   NOT NULL UNIQUE COLLATE "C",
    agent_id                 TEXT   NOT NULL,
    generation               BIGINT NOT NULL DEFAULT 1 CHECK (generation >= 1),
    created_at_ms            BIGINT NOT NULL,
    generation_started_at_ms BIGINT NOT NULL,
    last_active_ms           BIGINT NOT NULL
);

CREATE INDEX sessions_by_activity ON sessions (last_active_ms DESC, id DESC);

-- Transcripts of every generation are kept; only the current one is loaded.
CREATE TABLE transcript (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id   BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    generation   BIGINT NOT NULL,
    role         TEXT   NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content_json TEXT   NOT NULL,
    -- No foreign key: inbox history is purged sooner than transcripts.
    inbound_id   BIGINT,
    at_ms        BIGINT NOT NULL
);

CREATE INDEX transcript_by_generation ON transcript (session_id, generation, id);
