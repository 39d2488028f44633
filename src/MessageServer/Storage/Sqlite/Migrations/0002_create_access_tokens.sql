-- Access tokens are stored only as SHA-256 hashes; the token itself is shown once, when it is created.
CREATE TABLE access_tokens (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    read_patterns TEXT NOT NULL,
    write_patterns TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    revoked_at_us INTEGER
);
