-- Usage per day (UTC, `YYYY-MM-DD`), account and agent: model tokens and calls, and DingTalk
-- API calls by kind. The gateway adds to a row every few seconds (an upsert that sums), so
-- several processes on the file add up.
CREATE TABLE usage_daily (
    day               TEXT    NOT NULL COLLATE BINARY,
    account_id        TEXT    NOT NULL COLLATE BINARY,
    agent_id          TEXT    NOT NULL COLLATE BINARY,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    model_calls       INTEGER NOT NULL DEFAULT 0,
    api_messages      INTEGER NOT NULL DEFAULT 0,
    api_cards         INTEGER NOT NULL DEFAULT 0,
    api_media         INTEGER NOT NULL DEFAULT 0,
    api_other         INTEGER NOT NULL DEFAULT 0,
    api_exempt        INTEGER NOT NULL DEFAULT 0,
    quota_errors      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, account_id, agent_id)
) STRICT;
