-- Durable memories of each agent: facts its memory_save tool kept for a user, a conversation
-- or a group, and the paragraphs of its workspace's memory files (MEMORY.md and
-- memory/YYYY-MM-DD.md), which every user of the agent sees.
CREATE TABLE memories (
    id            INTEGER PRIMARY KEY,
    agent_id      TEXT    NOT NULL COLLATE BINARY,
    scope         TEXT    NOT NULL CHECK (scope IN ('agent', 'user', 'conversation', 'group')),
    -- The sender key, the session's conversation or the group's conversation id; '' for
    -- the agent scope.
    subject       TEXT    NOT NULL COLLATE BINARY,
    text          TEXT    NOT NULL,
    -- SHA-256 of the lowercased text: saving the same fact again keeps one row.
    text_hash     TEXT    NOT NULL,
    source        TEXT    NOT NULL CHECK (source IN ('tool', 'memory_md', 'daily_note')),
    -- The workspace file of a file memory, '' for saved ones.
    path          TEXT    NOT NULL DEFAULT '' COLLATE BINARY,
    line_start    INTEGER,
    line_end      INTEGER,
    created_by    TEXT             COLLATE BINARY,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    UNIQUE (agent_id, scope, subject, path, text_hash)
) STRICT;

CREATE INDEX memories_by_recency ON memories (agent_id, updated_at_ms);
CREATE INDEX memories_by_file ON memories (agent_id, path) WHERE path <> '';

-- Full-text index over the text: the trigram tokenizer indexes every three-character
-- window, so Chinese (no spaces between words) is searchable like English; shorter query
-- terms are matched with instr() instead.
CREATE VIRTUAL TABLE memories_fts USING fts5 (
    text,
    content = 'memories',
    content_rowid = 'id',
    tokenize = 'trigram'
);

CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;

CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO memories_fts (rowid, text) VALUES (new.id, new.text);
END;

-- The workspace memory files as last indexed: a file is indexed again when its
-- modification time differs.
CREATE TABLE memory_files (
    agent_id    TEXT    NOT NULL COLLATE BINARY,
    path        TEXT    NOT NULL COLLATE BINARY,
    modified_ms INTEGER NOT NULL,
    PRIMARY KEY (agent_id, path)
) STRICT;
