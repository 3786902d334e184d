-- Instagram Graph API long-lived tokens kept fresh: the token in use (encrypted with
-- LOMBA_ENCRYPTION_KEY) and its expiry. A row starts from the token accounts.yaml's env var held
-- at import (imported_sha256 names which one, never the token); a refresh replaces the token and
-- learns its expiry; importing a DIFFERENT token (the operator made a new one) starts over.
CREATE TABLE ig_graph_tokens (
    account_id       text        PRIMARY KEY REFERENCES ig_accounts (account_id) ON DELETE CASCADE,
    encrypted_token  bytea       NOT NULL,
    expires_at       timestamptz,          -- NULL until the first refresh tells it
    obtained_at      timestamptz NOT NULL, -- imported or refreshed (Meta refreshes tokens >= 24 h old)
    imported_sha256  text        NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
