-- AUTOINCREMENT: an id is never reused after a delete, so clients can resume after any id they saw.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at_us INTEGER NOT NULL
);

CREATE INDEX messages_topic_id ON messages (topic, id);
