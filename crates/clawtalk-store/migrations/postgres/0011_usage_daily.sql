-- Usage per day (UTC, `YYYY-MM-DD`), account and agent: model tokens and calls, and DingTalk
-- API calls by kind. Every replica adds to a row every few seconds (an upsert that sums, atomic
-- per row), so replicas on one database add up.
CREATE TABLE usage_daily (
    day               TEXT   NOT NULL COLLATE "C",
    account_id        TEXT   NOT NULL COLLATE "C",
    agent_id          TEXT   NOT NULL COLLATE "C",
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    model_calls       BIGINT NOT NULL DEFAULT 0,
    api_messages      BIGINT NOT NULL DEFAULT 0,
    api_cards         BIGINT NOT NULL DEFAULT 0,
    api_media         BIGINT NOT NULL DEFAULT 0,
    api_other         BIGINT NOT NULL DEFAULT 0,
    api_exempt        BIGINT NOT NULL DEFAULT 0,
    quota_errors      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, account_id, agent_id)
);
