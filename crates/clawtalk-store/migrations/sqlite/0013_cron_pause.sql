-- A task the operator paused: still active, but its scheduled runs are skipped until it is
-- resumed (a run-now request still runs it once).
ALTER TABLE cron_tasks ADD COLUMN paused_at_ms INTEGER;
