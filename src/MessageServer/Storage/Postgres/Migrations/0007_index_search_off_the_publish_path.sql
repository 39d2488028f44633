-- Search indexing off the publish path (see Search/PostgresSearchIndexer.cs). Folding a message for the index
-- (unaccent, ICU lower case, the punctuation pass, to_tsvector) inside each insert made every group commit of the
-- one writer slower; now an insert only queues its new ids in search_pending (one statement-level trigger per
-- batch), and a background indexer on each instance moves them into search_documents in batches. Searches also
-- fold the few messages still queued, so a message is found as soon as its publish is answered.
-- The topic is copied (a message never changes topic), so a search filters by topic before it orders and limits
-- the matches, without reading the messages it then leaves out.
CREATE TABLE search_documents (
    id bigint PRIMARY KEY,
    topic text NOT NULL,
    document tsvector NOT NULL
);

CREATE INDEX search_documents_document ON search_documents USING gin (document);

CREATE TABLE search_pending (
    id bigint PRIMARY KEY
);

-- The messages stored before this migration: the indexer works down from next_below to 0 (done), and searches
-- fold the ones below it meanwhile. One row.
CREATE TABLE search_backfill (
    next_below bigint NOT NULL
);

CREATE FUNCTION queue_for_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_pending (id) SELECT id FROM fresh;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_queue_for_search AFTER INSERT ON messages
REFERENCING NEW TABLE AS fresh FOR EACH STATEMENT EXECUTE FUNCTION queue_for_search();

-- Deletes and retention take their messages out of the index in their own transaction. The queue goes first: if
-- an indexer holds a deleted message's queue entry, this waits for it to commit, and the next statement (a new
-- snapshot) then sees and removes the document that indexer wrote.
CREATE FUNCTION forget_search_documents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_pending WHERE id IN (SELECT id FROM gone);
    DELETE FROM search_documents WHERE id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_forget_search_documents AFTER DELETE ON messages
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION forget_search_documents();

-- The expression index that 0005's index builder made, folded inside every insert.
DROP INDEX IF EXISTS messages_search;

-- CREATE TRIGGER waited for every insert in flight and holds off new ones until this commits: each message stored
-- so far has an id below this bound, each later one goes through the trigger.
INSERT INTO search_backfill (next_below) SELECT coalesce(max(id), 0) + 1 FROM messages;
