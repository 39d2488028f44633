-- 0005's search functions were never inlined, so every search ran them through the SQL-function executor, which
-- plans a function's body anew in each statement (about 0.05 ms a call, half of a rare word's search):
-- message_search_fold and message_search_document are IMMUTABLE around unaccent, which is STABLE (its dictionary
-- may change), and message_search_term is STRICT around a CASE, which is not strict. IMMUTABLE was only needed by
-- 0005's expression index, which 0007 dropped; STABLE is what they are, and lets PostgreSQL inline them. A NULL
-- term still gives NULL (to_tsquery is strict). What they return does not change.
ALTER FUNCTION message_search_fold(text) STABLE;
ALTER FUNCTION message_search_document(text, text) STABLE;

CREATE OR REPLACE FUNCTION message_search_term(term text, prefix boolean) RETURNS tsquery
    LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL UNSAFE
    RETURN to_tsquery('simple'::regconfig, CASE
        WHEN message_search_fold(term) = '' THEN ''
        ELSE replace(message_search_fold(term), ' ', ' <-> ') || CASE WHEN prefix THEN ':*' ELSE '' END
    END);
