-- Access tokens are stored only as SHA-256 hashes; the token itself is shown once, when it is created.
CREATE TABLE access_tokens (
    name text PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    read_patterns text NOT NULL,
    write_patterns text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
