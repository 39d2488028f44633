-- Webhooks: each one's progress is a cursor over its topic's messages (the last id delivered or dead-lettered),
-- so what is still to be sent is simply the topic's messages above it: nothing is queued anywhere a crash could
-- lose. Times are microseconds since the Unix epoch, as in messages.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
    created_at_us INTEGER NOT NULL,
    delivered_through INTEGER NOT NULL,
    locked_by TEXT,
    locked_until_us INTEGER
);

CREATE INDEX webhooks_topic ON webhooks (topic);

-- One row per message a webhook has attempted: pending (being retried, or queued again by a retry request),
-- failed (dead-lettered) or delivered (the newest ones per webhook are kept, older ones pruned).
CREATE TABLE webhook_deliveries (
    webhook_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'failed', 'delivered')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    next_attempt_at_us INTEGER,
    delivered_at_us INTEGER,
    PRIMARY KEY (webhook_id, message_id)
);

CREATE INDEX webhook_deliveries_state ON webhook_deliveries (webhook_id, state, message_id);
