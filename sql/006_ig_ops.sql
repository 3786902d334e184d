-- Instagram operations for the operated accounts (lanes A reply/DM, B morning posts, C report)
-- and their governance: actions with idempotency keys, approvals, versioned job specs, cooldown.

-- The operated accounts, imported from config/accounts.yaml. Credentials are encrypted with
-- LOMBA_ENCRYPTION_KEY; the YAML only names the environment variables that hold them.
CREATE TABLE ig_accounts (
    account_id             text PRIMARY KEY,            -- ig_001 ... ig_010
    username               text        NOT NULL UNIQUE,
    position               integer     NOT NULL,        -- 0-based: post time = base + stagger * position
    content_dir            text        NOT NULL,
    enabled                boolean     NOT NULL DEFAULT true,
    is_new                 boolean     NOT NULL DEFAULT false,  -- first post waits for approval
    approve_all_posts      boolean     NOT NULL DEFAULT false,
    credential_env         jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- names, never values
    encrypted_credentials  bytea,
    consecutive_failures   integer     NOT NULL DEFAULT 0,
    cooldown_until         timestamptz,
    last_error             text,
    imported_at            timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- Every outbound action. The idempotency key makes a second reply/post impossible:
--   comment_reply:<account>:<comment pk>, dm_reply:<account>:<thread>:<item>, post:<account>:<date>
-- Life: planned -> sending -> done | planned (retry) | failed; awaiting_approval -> planned | rejected;
-- a 'sending' row found after a crash is reconciled: done, planned (not there), or unknown (-> approval).
CREATE TABLE ig_actions (
    id                bigserial PRIMARY KEY,
    idempotency_key   text        NOT NULL UNIQUE,
    account_id        text        NOT NULL REFERENCES ig_accounts (account_id) ON DELETE CASCADE,
    kind              text        NOT NULL CHECK (kind IN ('comment_reply', 'dm_reply', 'post')),
    target            jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- media/comment/thread ids, content file
    text              text        NOT NULL,                        -- reply text or caption
    source            text        NOT NULL DEFAULT 'rules',        -- rules, llm, schedule
    status            text        NOT NULL CHECK (status IN
        ('planned', 'awaiting_approval', 'sending', 'done', 'failed', 'rejected', 'unknown')),
    attempts          integer     NOT NULL DEFAULT 0,
    error             text,
    result            jsonb       NOT NULL DEFAULT '{}'::jsonb,    -- e.g. the created comment/media pk
    spec_version      integer,
    planned_at        timestamptz NOT NULL,                        -- clock time (injectable)
    sending_at        timestamptz,
    done_at           timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ig_actions_account_status_idx ON ig_actions (account_id, status);
CREATE INDEX ig_actions_done_idx ON ig_actions (done_at) WHERE status = 'done';

-- Each attempt to talk to Instagram for an action (success or failure), by clock time: the
-- report's successes/failures and error list.
CREATE TABLE ig_attempts (
    id          bigserial PRIMARY KEY,
    action_id   bigint      REFERENCES ig_actions (id) ON DELETE CASCADE,
    account_id  text        NOT NULL,
    at          timestamptz NOT NULL,
    ok          boolean     NOT NULL,
    error       text
);
CREATE INDEX ig_attempts_at_idx ON ig_attempts (at);

-- Sensitive actions waiting for a person (admin panel or `lomba approvals`).
CREATE TABLE approvals (
    id            bigserial PRIMARY KEY,
    action_id     bigint      NOT NULL UNIQUE REFERENCES ig_actions (id) ON DELETE CASCADE,
    account_id    text        NOT NULL,
    reason        text        NOT NULL,   -- llm_draft, dm_sensitive_word, post_marked, first_post, reconcile_unknown
    summary       text        NOT NULL,
    status        text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    requested_at  timestamptz NOT NULL DEFAULT now(),
    decided_by    text,
    decided_at    timestamptz
);
CREATE INDEX approvals_pending_idx ON approvals (requested_at) WHERE status = 'pending';

-- Versioned lane specs (post times, reply rules/templates, thresholds); exactly one active.
CREATE TABLE job_specs (
    version     serial PRIMARY KEY,
    spec        jsonb       NOT NULL,
    source      text,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    active      boolean     NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX job_specs_one_active_idx ON job_specs (active) WHERE active;

-- Content files taken for posts: a file is bound to one post action and never taken again.
CREATE TABLE ig_content_ledger (
    account_id   text        NOT NULL REFERENCES ig_accounts (account_id) ON DELETE CASCADE,
    file_name    text        NOT NULL,
    sha256       text        NOT NULL,
    action_id    bigint      NOT NULL UNIQUE REFERENCES ig_actions (id) ON DELETE CASCADE,
    taken_at     timestamptz NOT NULL,
    PRIMARY KEY (account_id, file_name)
);

-- Comment counts per media already handled: the sensor's cheap "anything new?" check.
CREATE TABLE ig_media_watermarks (
    account_id     text   NOT NULL REFERENCES ig_accounts (account_id) ON DELETE CASCADE,
    media_pk       text   NOT NULL,
    comment_count  integer NOT NULL,
    PRIMARY KEY (account_id, media_pk)
);
