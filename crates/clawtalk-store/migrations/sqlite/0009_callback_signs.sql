-- HTTP-mode bot callbacks: the message each used timestamp/sign pair carried (the sign is a
-- function of the account's key and the timestamp), kept while the timestamp could pass the
-- freshness check, so that a restarted gateway refuses a replayed pair.
CREATE TABLE callback_signs (
    account_id   TEXT    NOT NULL COLLATE BINARY,
    timestamp_ms INTEGER NOT NULL,
    msg_id       TEXT    NOT NULL COLLATE BINARY,
    PRIMARY KEY (account_id, timestamp_ms)
) STRICT;

CREATE INDEX callback_signs_by_time ON callback_signs (timestamp_ms);
