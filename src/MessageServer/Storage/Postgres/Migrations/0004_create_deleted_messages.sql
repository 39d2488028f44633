-- Tombstones: each deleted message's id and topic, kept for a while so that clients resuming a stream, and
-- instances whose change feed was cut off, learn of deletes they missed. Written by a trigger, so every delete
-- leaves one in its own transaction; one INSERT per statement, however many rows it deleted.
CREATE TABLE deleted_messages (
    id bigint PRIMARY KEY,
    topic text NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX deleted_messages_topic_id ON deleted_messages (topic, id);
CREATE INDEX deleted_messages_deleted_at ON deleted_messages (deleted_at);

CREATE FUNCTION leave_tombstones() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO deleted_messages (id, topic) SELECT id, topic FROM gone
    ON CONFLICT (id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_leave_tombstones AFTER DELETE ON messages
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION leave_tombstones();
