-- Human review: admin users, duplicate candidates, WhatsApp broadcasts, poster variants.

-- People who review records in the admin panel (created with `lomba admin create-user`).
CREATE TABLE admin_users (
    id             bigserial PRIMARY KEY,
    username       text        NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,39}$'),
    password_hash  text        NOT NULL,          -- argon2id
    role           text        NOT NULL CHECK (role IN ('reviewer', 'admin')),
    disabled       boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz
);

-- Failed logins, for throttling (shared by every admin process).
CREATE TABLE admin_login_failures (
    id        bigserial PRIMARY KEY,
    username  text        NOT NULL,
    client    text        NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_login_failures_user_idx ON admin_login_failures (username, at DESC);
CREATE INDEX admin_login_failures_client_idx ON admin_login_failures (client, at DESC);

-- A pair of records that may describe the same competition; stored once per pair
-- (low id first) with every reason that matched. Groups are the connected pairs.
CREATE TABLE duplicate_candidates (
    competition_id  bigint      NOT NULL REFERENCES competitions (id) ON DELETE CASCADE,
    candidate_id    bigint      NOT NULL REFERENCES competitions (id) ON DELETE CASCADE,
    reasons         text[]      NOT NULL,
    title_score     real,
    phash_distance  integer,
    found_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (competition_id, candidate_id),
    CHECK (competition_id < candidate_id)
);
CREATE INDEX duplicate_candidates_candidate_idx ON duplicate_candidates (candidate_id);

-- One outbound WhatsApp message per (record, channel): the idempotency key is unique, so a
-- double click or a retried request finds the existing row instead of sending again.
CREATE TABLE broadcasts (
    id               bigserial PRIMARY KEY,
    competition_id   bigint      REFERENCES competitions (id) ON DELETE SET NULL,
    channel          text        NOT NULL,        -- WhatsApp chat id (...@newsletter, ...@g.us)
    purpose          text        NOT NULL DEFAULT 'publish' CHECK (purpose IN ('publish', 'review_notify')),
    idempotency_key  text        NOT NULL UNIQUE,
    status           text        NOT NULL DEFAULT 'sending'
        CHECK (status IN ('sending', 'sent', 'failed', 'unknown')),
    attempts         integer     NOT NULL DEFAULT 1,
    message_id       text,
    image_key        text,                        -- the poster variant that was sent
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX broadcasts_competition_idx ON broadcasts (competition_id);

-- Re-publishable poster variants, stored in the object store next to their original.
CREATE TABLE image_variants (
    image_id    bigint      NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    tag         text        NOT NULL,             -- VariantOptions.tag
    object_key  text        NOT NULL UNIQUE,
    public_url  text        NOT NULL,
    size_bytes  integer     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (image_id, tag)
);
