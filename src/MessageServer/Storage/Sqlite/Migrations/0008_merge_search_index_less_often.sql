-- FTS5 writes each indexer batch as a new segment and merges segments as they pile up: by default once 4 of
-- a size exist (automerge), so every indexed word is rewritten about once per fourfold growth of the index. Merging
-- only at 16 rewrites it half as often: indexing 200,000 messages in batches of 2,000 took 0.98 s instead of 1.62 s
-- on top of a million, and the indexer holds SQLite's one write lock (which publishes wait for) that much less. A
-- search then reads up to 15 segments per size instead of 3, a lookup each. crisismerge (a level merged at once
-- however large, inside one batch) goes up with it, from 16 to 64, so it stays the exception.
INSERT INTO messages_search (messages_search, rank) VALUES ('automerge', 16);
INSERT INTO messages_search (messages_search, rank) VALUES ('crisismerge', 64);
