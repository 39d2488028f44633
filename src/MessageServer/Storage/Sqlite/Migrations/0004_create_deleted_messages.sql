-- Tombstones: each deleted message's id and topic, kept for a while so that clients resuming a stream learn of
-- deletes they missed. Written by a trigger, so every delete leaves one in its own transaction.
CREATE TABLE deleted_messages (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    deleted_at_us INTEGER NOT NULL
);

CREATE INDEX deleted_messages_topic_id ON deleted_messages (topic, id);
CREATE INDEX deleted_messages_deleted_at ON deleted_messages (deleted_at_us);

CREATE TRIGGER messages_leave_tombstones AFTER DELETE ON messages
BEGIN
    INSERT OR REPLACE INTO deleted_messages (id, topic, deleted_at_us)
    VALUES (OLD.id, OLD.topic, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
