-- Calls each gateway has queued for a shared send budget, so that every gateway can tell how
-- far behind the budget is across all of them (an AI card or markdown, `cardOverflow`). One
-- row per budget and gateway process, overwritten by its next report; reports older than a
-- few seconds (a gateway that stopped or was killed) are not counted.
CREATE TABLE rate_backlogs (
    budget_key TEXT   NOT NULL COLLATE "C",
    owner      TEXT   NOT NULL COLLATE "C",
    waiting    BIGINT NOT NULL,
    at_ms      BIGINT NOT NULL,
    PRIMARY KEY (budget_key, owner)
);
