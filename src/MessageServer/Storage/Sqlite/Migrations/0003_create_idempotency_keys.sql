-- A publish with an Idempotency-Key remembers its request for 24 hours: a retry gets the original message back.
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    created_at_us INTEGER NOT NULL
);

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at_us);
