-- Search indexing off the publish path (see Search/SqliteSearchIndexer.cs): the FTS5 insert of every message in
-- its publish transaction (a new index segment per group commit, and the merging of those) made the one writer
-- slower. Now a background indexer adds messages to messages_search in batches, in id order, and records how far
-- it got; a search first has the indexer catch up with whatever is stored, so a message is found as soon as its
-- publish is answered. Only one writer at a time commits, in id order, so "every id up to here" is exact.
DROP TRIGGER messages_search_after_insert;
DROP TRIGGER messages_search_after_delete;
DROP TRIGGER messages_search_after_update;

-- One row: every message with an id up to indexed_through is in messages_search, none above it.
CREATE TABLE search_progress (
    indexed_through INTEGER NOT NULL
);

-- 0005 indexed everything stored until now.
INSERT INTO search_progress (indexed_through) SELECT coalesce(max(id), 0) FROM messages;

-- Deletes and retention still take indexed messages out of the index in their own transaction; a message not
-- indexed yet has nothing to remove (and telling FTS5 to remove what it does not hold would corrupt the index).
CREATE TRIGGER messages_search_after_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT indexed_through FROM search_progress) BEGIN
    INSERT INTO messages_search (messages_search, rowid, author, text) VALUES ('delete', old.id, old.author, old.text);
END;

CREATE TRIGGER messages_search_after_update AFTER UPDATE OF author, text ON messages
WHEN old.id <= (SELECT indexed_through FROM search_progress) BEGIN
    INSERT INTO messages_search (messages_search, rowid, author, text) VALUES ('delete', old.id, old.author, old.text);
    INSERT INTO messages_search (rowid, author, text) VALUES (new.id, new.author, new.text);
END;
