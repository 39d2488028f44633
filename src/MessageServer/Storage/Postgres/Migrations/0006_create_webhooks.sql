-- Webhooks: each one's progress is a cursor over its topic's messages (the last id delivered or dead-lettered),
-- so what is still to be sent is simply the topic's messages above it: nothing is queued anywhere a crash could
-- lose. One instance at a time delivers a webhook: it holds the lease (locked_by, locked_until) while it does.
CREATE TABLE webhooks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic text NOT NULL,
    url text NOT NULL,
    secret text NOT NULL,
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_through bigint NOT NULL,
    locked_by text,
    locked_until timestamptz
);

CREATE INDEX webhooks_topic ON webhooks (topic);

-- One row per message a webhook has attempted: pending (being retried, or queued again by a retry request),
-- failed (dead-lettered) or delivered (the newest ones per webhook are kept, older ones pruned).
CREATE TABLE webhook_deliveries (
    webhook_id bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    message_id bigint NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'failed', 'delivered')),
    attempts integer NOT NULL DEFAULT 0,
    last_status integer,
    last_error text,
    next_attempt_at timestamptz,
    delivered_at timestamptz,
    PRIMARY KEY (webhook_id, message_id)
);

CREATE INDEX webhook_deliveries_state ON webhook_deliveries (webhook_id, state, message_id);
