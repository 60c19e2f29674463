-- Send budgets shared by every gateway process on this file: one row per send DingTalk
-- counted, kept for one window (a sliding log, as strict as DingTalk's own sliding windows).
CREATE TABLE rate_sends (
    budget_key TEXT    NOT NULL COLLATE BINARY,
    at_ms      INTEGER NOT NULL
) STRICT;

CREATE INDEX rate_sends_by_key ON rate_sends (budget_key, at_ms);
