-- Durable memories of each agent: facts its memory_save tool kept for a user, a conversation
-- or a group, and the paragraphs of its workspace's memory files (MEMORY.md and
-- memory/YYYY-MM-DD.md), which every user of the agent sees.
--
-- pg_trgm (a trusted extension: a database owner may create it) gives word_similarity,
-- which ranks English text forgiving typos. An extension lives in one schema per database:
-- an existing one is used where it is; a new one goes to public, so that dropping the
-- schema of one installation (or test) never takes it from another, else to this schema.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION pg_trgm SCHEMA public;
        EXCEPTION WHEN insufficient_privilege OR invalid_schema_name THEN
            CREATE EXTENSION pg_trgm;
        END;
    END IF;
END
$$;

-- The store's one way to the extension, whichever schema holds it.
DO $$
DECLARE
    trgm_schema TEXT;
BEGIN
    SELECT n.nspname INTO STRICT trgm_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    EXECUTE format(
        'CREATE FUNCTION memory_word_similarity(query TEXT, body TEXT) RETURNS REAL '
        'LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
        format('SELECT %I.word_similarity(query, body)', trgm_schema));
END
$$;

CREATE TABLE memories (
    id            BIGSERIAL PRIMARY KEY,
    agent_id      TEXT   NOT NULL COLLATE "C",
    scope         TEXT   NOT NULL CHECK (scope IN ('agent', 'user', 'conversation', 'group')),
    -- The sender key, the session's conversation or the group's conversation id; '' for
    -- the agent scope.
    subject       TEXT   NOT NULL COLLATE "C",
    text          TEXT   NOT NULL,
    -- SHA-256 of the lowercased text: saving the same fact again keeps one row.
    text_hash     TEXT   NOT NULL,
    source        TEXT   NOT NULL CHECK (source IN ('tool', 'memory_md', 'daily_note')),
    -- The workspace file of a file memory, '' for saved ones.
    path          TEXT   NOT NULL DEFAULT '' COLLATE "C",
    line_start    BIGINT,
    line_end      BIGINT,
    created_by    TEXT            COLLATE "C",
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (agent_id, scope, subject, path, text_hash)
);

CREATE INDEX memories_by_recency ON memories (agent_id, updated_at_ms);
CREATE INDEX memories_by_file ON memories (agent_id, path) WHERE path <> '';

-- The workspace memory files as last indexed: a file is indexed again when its
-- modification time differs.
CREATE TABLE memory_files (
    agent_id    TEXT   NOT NULL COLLATE "C",
    path        TEXT   NOT NULL COLLATE "C",
    modified_ms BIGINT NOT NULL,
    PRIMARY KEY (agent_id, path)
);
