-- Admin panel: server-side sessions (revocable) and login throttling by atomic counters.

-- One row per signed-in browser. The cookie holds a random id; only its SHA-256 is stored, so a
-- copy of this table cannot be replayed as cookies. Deleting the row revokes the session.
CREATE TABLE admin_sessions (
    id_hash       bytea       PRIMARY KEY,
    user_id       bigint      NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    data          jsonb       NOT NULL DEFAULT '{}',   -- CSRF token, flash messages
    client        text,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,                -- idle expiry
    expires_at    timestamptz NOT NULL                 -- absolute expiry
);
CREATE INDEX admin_sessions_user_idx ON admin_sessions (user_id);
CREATE INDEX admin_sessions_expires_idx ON admin_sessions (expires_at);

-- A new password or a disabled account ends every session of that user, whatever made the
-- change (`lomba admin create-user`, `lomba admin disable-user`, or SQL by hand). A re-hash of
-- the same password at login sets lomba.same_password for its transaction and ends nothing.
CREATE FUNCTION admin_sessions_revoke() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.password_hash IS DISTINCT FROM OLD.password_hash
        AND coalesce(current_setting('lomba.same_password', true), '') <> 'on')
       OR (NEW.disabled AND NOT OLD.disabled) THEN
        DELETE FROM admin_sessions WHERE user_id = NEW.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER admin_users_revoke_sessions
    AFTER UPDATE OF password_hash, disabled ON admin_users
    FOR EACH ROW EXECUTE FUNCTION admin_sessions_revoke();

-- Login attempts per bucket ('client:<addr>' or 'user:<name>|<addr>'): a counter and the time
-- the next attempt is allowed (progressive delay). One row per bucket, locked while an attempt
-- is reserved, so parallel attempts cannot all pass the check. Throttled attempts are counted
-- here, not written as events.
CREATE TABLE admin_login_throttle (
    bucket           text        PRIMARY KEY,
    attempts         integer     NOT NULL DEFAULT 0,
    throttled        bigint      NOT NULL DEFAULT 0,
    last_attempt_at  timestamptz NOT NULL,
    next_allowed_at  timestamptz NOT NULL
);
CREATE INDEX admin_login_throttle_last_idx ON admin_login_throttle (last_attempt_at);

-- Replaced by admin_login_throttle (one row per failure could be raced and grew per attempt).
DROP TABLE admin_login_failures;
