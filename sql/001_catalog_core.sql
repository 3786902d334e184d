-- Catalog core: what the ingestion, extraction and review stages share.
-- Forward-only: never edit an applied file; add a new numbered one.

-- Poster images, content-addressed (same bytes -> one row, one object).
CREATE TABLE images (
    id            bigserial PRIMARY KEY,
    sha256        text        NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    object_key    text        NOT NULL UNIQUE,
    public_url    text        NOT NULL,
    content_type  text        NOT NULL,
    size_bytes    integer     NOT NULL CHECK (size_bytes > 0),
    width         integer,
    height        integer,
    phash         text,                       -- perceptual hash (hex) for near-duplicate posters
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per scraped or submitted item; the canonical URL is the dedup key.
CREATE TABLE raw_items (
    id                bigserial PRIMARY KEY,
    source_kind       text        NOT NULL CHECK (source_kind IN ('web', 'ig', 'manual')),
    source_name       text        NOT NULL,   -- e.g. 'infolomba.id', an IG username
    canonical_url     text        NOT NULL UNIQUE,
    external_id       text,                   -- site event id, IG shortcode, Blogger entry id
    title             text,
    caption           text,                   -- caption or description text
    image_url         text,                   -- the poster at the source
    posted_at         timestamptz,
    window_start      timestamptz,            -- start of the 6-hour window that found it
    hints             jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- structured fields the source gave
    payload           jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- the source's raw record
    image_id          bigint      REFERENCES images (id) ON DELETE SET NULL,
    image_error       text,                   -- why the poster could not be stored
    needs_extraction  boolean     NOT NULL DEFAULT true,
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX raw_items_source_idx ON raw_items (source_kind, source_name);
CREATE INDEX raw_items_window_idx ON raw_items (window_start);
CREATE INDEX raw_items_needs_extraction_idx ON raw_items (id) WHERE needs_extraction;
CREATE INDEX raw_items_image_pending_idx ON raw_items (id)
    WHERE image_id IS NULL AND image_error IS NULL AND image_url IS NOT NULL;

-- The catalog record, one per raw item; cross-source duplicates are marked, not merged.
CREATE TABLE competitions (
    id                 bigserial PRIMARY KEY,
    raw_item_id        bigint      NOT NULL UNIQUE REFERENCES raw_items (id) ON DELETE CASCADE,
    canonical_url      text        NOT NULL UNIQUE,
    title              text,
    description        text,
    organizer          text,
    start_date         date,                  -- registration opens
    end_date           date,                  -- registration deadline
    event_start_date   date,
    event_end_date     date,
    categories         text[]      NOT NULL DEFAULT '{}',
    tags               text[]      NOT NULL DEFAULT '{}',
    levels             text[]      NOT NULL DEFAULT '{}',  -- SD, SMP, SMA, Mahasiswa, Umum
    fee_amount         integer     CHECK (fee_amount IS NULL OR fee_amount >= 0),  -- 0 = gratis
    fee_waves          jsonb       NOT NULL DEFAULT '[]'::jsonb,
    prize              text,
    contact            text,
    contact_phones     text[]      NOT NULL DEFAULT '{}',  -- normalised +62...
    registration_url   text,
    guidebook_url      text,
    location           text,
    is_online          boolean,
    is_abroad          boolean,
    is_competition     boolean,
    image_id           bigint      REFERENCES images (id) ON DELETE SET NULL,
    extracted_from     jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- field -> provider
    extraction_status  text        NOT NULL DEFAULT 'pending'
        CHECK (extraction_status IN ('pending', 'partial', 'done', 'failed')),
    extraction_error   text,
    extracted_at       timestamptz,
    review_status      text        NOT NULL DEFAULT 'pending'
        CHECK (review_status IN ('pending', 'approved', 'rejected', 'duplicate')),
    duplicate_of       bigint      REFERENCES competitions (id) ON DELETE SET NULL,
    reviewed_by        text,
    reviewed_at        timestamptz,
    broadcast_status   text        NOT NULL DEFAULT 'none'
        CHECK (broadcast_status IN ('none', 'sending', 'sent', 'failed', 'skipped')),
    broadcast_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (duplicate_of IS NULL OR duplicate_of <> id)
);
CREATE INDEX competitions_review_idx ON competitions (review_status, end_date);
CREATE INDEX competitions_registration_url_idx ON competitions (registration_url);

-- Every AI / rules call: the cost ledger.
CREATE TABLE extraction_attempts (
    id                 bigserial PRIMARY KEY,
    raw_item_id        bigint      REFERENCES raw_items (id) ON DELETE CASCADE,
    provider           text        NOT NULL,  -- zhipu, mistral, gemini, rules
    step               text        NOT NULL,  -- text, ocr, vision
    outcome            text        NOT NULL,  -- ok, error, invalid_json, timeout, rate_limited, empty
    error              text,
    latency_ms         integer,
    prompt_tokens      integer,
    completion_tokens  integer,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX extraction_attempts_item_idx ON extraction_attempts (raw_item_id);
CREATE INDEX extraction_attempts_created_idx ON extraction_attempts (created_at);

-- Instagram post links submitted by people; the sensor turns new rows into partitions.
CREATE TABLE manual_links (
    id             bigserial PRIMARY KEY,
    url            text        NOT NULL,      -- as submitted
    canonical_url  text        NOT NULL UNIQUE,
    partition_key  text        NOT NULL UNIQUE,  -- short hash of the canonical URL
    submitted_by   text        NOT NULL DEFAULT 'cli',
    submitted_at   timestamptz NOT NULL DEFAULT now(),
    status         text        NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'queued', 'done', 'failed')),
    error          text,
    raw_item_id    bigint      REFERENCES raw_items (id) ON DELETE SET NULL
);

-- Append-only audit log and timeline for everything.
CREATE TABLE events (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text        NOT NULL,           -- 'system', 'pipeline', a username
    kind      text        NOT NULL,           -- dotted, e.g. 'ingest.item_stored'
    subject   text,                           -- e.g. 'raw_item:42', 'account:ig_003'
    data      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX events_at_idx ON events (at DESC);
CREATE INDEX events_kind_idx ON events (kind, at DESC);
CREATE INDEX events_subject_idx ON events (subject, at DESC);

CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();
