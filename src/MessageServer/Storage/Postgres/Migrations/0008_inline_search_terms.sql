-- message_search_term as 0005 made it is STRICT around a CASE, which is not strict, so PostgreSQL never inlined
-- it: every search ran it through the SQL-function executor, planning its body anew (about 0.1 ms, a fifth of a
-- rare word's search). Without STRICT it is inlined into each search; a NULL term still gives NULL (to_tsquery
-- is strict), so nothing else changes.
CREATE OR REPLACE FUNCTION message_search_term(term text, prefix boolean) RETURNS tsquery
    LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL UNSAFE
    RETURN to_tsquery('simple'::regconfig, CASE
        WHEN message_search_fold(term) = '' THEN ''
        ELSE replace(message_search_fold(term), ' ', ' <-> ') || CASE WHEN prefix THEN ':*' ELSE '' END
    END);
