-- HTTP-mode bot callbacks: the message each used timestamp/sign pair carried (the sign is a
-- function of the account's key and the timestamp), shared by every replica on this database
-- and kept while the timestamp could pass the freshness check, so a replayed pair is refused
-- whichever replica it reaches.
CREATE TABLE callback_signs (
    account_id   TEXT   NOT NULL COLLATE "C",
    timestamp_ms BIGINT NOT NULL,
    msg_id       TEXT   NOT NULL COLLATE "C",
    PRIMARY KEY (account_id, timestamp_ms)
);

CREATE INDEX callback_signs_by_time ON callback_signs (timestamp_ms);
