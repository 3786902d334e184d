-- Instagram client sessions (instagrapi settings JSON), encrypted with LOMBA_ENCRYPTION_KEY.
-- Shared by the profile scraper and the operated-account lanes: any run process on any machine
-- reuses the session instead of logging in again.
CREATE TABLE ig_sessions (
    username           text PRIMARY KEY,
    encrypted_settings bytea       NOT NULL,
    last_login_at      timestamptz,
    last_error         text,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
