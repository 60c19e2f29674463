-- `handed`: the part's request is leaving for DingTalk and its sender has not yet heard back.
-- Written just before the request, so a part DingTalk may have is never sent again by anyone
-- else (the sessionWebhook and robot API have no key DingTalk drops repeats by).
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('planned', 'handed', 'sent', 'failed'));
