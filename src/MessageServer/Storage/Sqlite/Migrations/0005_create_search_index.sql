-- Full-text search (see Search/): an FTS5 index of each message's author and text. External content: the
-- words are indexed, the text itself stays in messages only. unicode61 splits on anything that is not a letter
-- or digit in any script, folds case, and with remove_diacritics 2 folds accents (café → cafe).
CREATE VIRTUAL TABLE messages_search USING fts5(
    author, text,
    content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Kept in step in the same transaction as every insert and delete (publishes, deletes, retention).
CREATE TRIGGER messages_search_after_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_search (rowid, author, text) VALUES (new.id, new.author, new.text);
END;

CREATE TRIGGER messages_search_after_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, author, text) VALUES ('delete', old.id, old.author, old.text);
END;

CREATE TRIGGER messages_search_after_update AFTER UPDATE OF author, text ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, author, text) VALUES ('delete', old.id, old.author, old.text);
    INSERT INTO messages_search (rowid, author, text) VALUES (new.id, new.author, new.text);
END;

-- Index the messages stored before this migration.
INSERT INTO messages_search (messages_search) VALUES ('rebuild');
