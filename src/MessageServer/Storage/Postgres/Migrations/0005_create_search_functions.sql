-- Full-text search (see Search/). unaccent ships with PostgreSQL (the contrib modules; on Debian in the server
-- package itself) and is a trusted extension: the database owner may create it, on Amazon RDS too.
CREATE EXTENSION IF NOT EXISTS unaccent;

-- Folds text for search, the same way for messages and for query terms: accents and ligatures off (unaccent:
-- café → cafe, straße → strasse), lower case in every script, final sigma as sigma, and every run of characters
-- that are neither letters nor digits (punctuation, symbols, spaces) to one space. ICU's root collation classifies
-- and lower-cases by Unicode whatever the database's own locale is (a database created with LC_CTYPE=C would
-- otherwise leave Cyrillic upper case and count no Greek letter as a letter). SQL-standard bodies bind their
-- functions when created, so no search_path matters later (PostgreSQL 17 indexes with a restricted one).
-- COST tells the planner what it measures: folding a message costs about as much as reading a few pages, so
-- for a word of middling frequency it reads the index rather than folding messages one by one down the ids.
CREATE FUNCTION message_search_fold(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1000
    RETURN translate(
        lower(btrim(regexp_replace(unaccent('unaccent'::regdictionary, value) COLLATE "und-x-icu", '[^[:alnum:]]+', ' ', 'g'))),
        'ς', 'σ');

-- What the search index holds for a message: the words of its author and text. 'simple' is the language-neutral
-- configuration: no stemming, no stop words, so every word of every language is found as written.
CREATE FUNCTION message_search_document(author text, text text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN to_tsvector('simple'::regconfig, message_search_fold(author || ' ' || text));

-- One term of a query (a word, a phrase, a prefix) as a tsquery. Its text is folded first, so it holds only
-- letters, digits and single spaces: to_tsquery never sees an operator a user typed. Several words make a
-- phrase (<->); a prefix marks the last one (:*). A term that folds to nothing is left out.
-- PARALLEL UNSAFE keeps every search serial (the planner checks before it folds the call into a constant): a
-- search reads a few pages in well under a millisecond, and starting parallel workers for it cost ten times that
-- in the benchmark, with 16 concurrent searches competing for the same cores anyway.
CREATE FUNCTION message_search_term(term text, prefix boolean) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL UNSAFE
    RETURN to_tsquery('simple'::regconfig, CASE
        WHEN message_search_fold(term) = '' THEN ''
        ELSE replace(message_search_fold(term), ' ', ' <-> ') || CASE WHEN prefix THEN ':*' ELSE '' END
    END);

-- The index itself (GIN over message_search_document) is built by the server right after the migrations, with
-- CREATE INDEX CONCURRENTLY, which cannot run inside a migration's transaction: see Search/PostgresSearchIndex.cs.
