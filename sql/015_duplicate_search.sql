-- Indexed search keys for duplicate detection (catalog/review/duplicates.py).
--
-- One row per record with the keys the duplicate rules compare, computed by duplicates.py with
-- the same Python normalisers the rules use (so the SQL narrowing never disagrees with the
-- scorer). Triggers mark a row stale whenever a compared field changes, by any writer; the next
-- duplicate refresh recomputes stale rows before it searches.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE duplicate_keys (
    competition_id    bigint  PRIMARY KEY REFERENCES competitions (id) ON DELETE CASCADE,
    stale             boolean NOT NULL DEFAULT true,
    end_date          date,
    title_key         text    NOT NULL DEFAULT '',   -- stop-word-free normalised title
    description_hash  text,                          -- of the normalised description, when long enough
    links             text[]  NOT NULL DEFAULT '{}', -- normalised canonical + registration URLs
    phash_bits        bigint,                        -- the poster's 64-bit phash, and its
    phash_chunk0      integer,                       -- four 16-bit chunks (low bits first)
    phash_chunk1      integer,
    phash_chunk2      integer,
    phash_chunk3      integer
);
CREATE INDEX duplicate_keys_stale_idx ON duplicate_keys (competition_id) WHERE stale;
CREATE INDEX duplicate_keys_end_date_idx ON duplicate_keys (end_date) INCLUDE (title_key);
CREATE INDEX duplicate_keys_title_trgm_idx ON duplicate_keys USING gin (title_key gin_trgm_ops);
-- Records without a deadline, searched from a dated record: a much smaller index.
CREATE INDEX duplicate_keys_undated_title_trgm_idx ON duplicate_keys
    USING gin (title_key gin_trgm_ops) WHERE end_date IS NULL;
CREATE INDEX duplicate_keys_description_idx ON duplicate_keys (description_hash)
    WHERE description_hash IS NOT NULL;
CREATE INDEX duplicate_keys_links_idx ON duplicate_keys USING gin (links);
CREATE INDEX duplicate_keys_phash_chunk0_idx ON duplicate_keys (phash_chunk0);
CREATE INDEX duplicate_keys_phash_chunk1_idx ON duplicate_keys (phash_chunk1);
CREATE INDEX duplicate_keys_phash_chunk2_idx ON duplicate_keys (phash_chunk2);
CREATE INDEX duplicate_keys_phash_chunk3_idx ON duplicate_keys (phash_chunk3);
CREATE INDEX IF NOT EXISTS competitions_image_idx ON competitions (image_id);

CREATE FUNCTION duplicate_keys_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO duplicate_keys (competition_id) VALUES (NEW.id)
    ON CONFLICT (competition_id) DO UPDATE SET stale = true;
    RETURN NULL;
END $$;

CREATE TRIGGER competitions_duplicate_keys_insert
    AFTER INSERT ON competitions
    FOR EACH ROW EXECUTE FUNCTION duplicate_keys_mark_stale();

CREATE TRIGGER competitions_duplicate_keys_update
    AFTER UPDATE OF canonical_url, registration_url, title, description, end_date, image_id
    ON competitions
    FOR EACH ROW
    WHEN (OLD.canonical_url IS DISTINCT FROM NEW.canonical_url
          OR OLD.registration_url IS DISTINCT FROM NEW.registration_url
          OR OLD.title IS DISTINCT FROM NEW.title
          OR OLD.description IS DISTINCT FROM NEW.description
          OR OLD.end_date IS DISTINCT FROM NEW.end_date
          OR OLD.image_id IS DISTINCT FROM NEW.image_id)
    EXECUTE FUNCTION duplicate_keys_mark_stale();

-- A poster's phash is written once today; should it ever be rewritten, the records showing it
-- must be re-keyed too.
CREATE FUNCTION duplicate_keys_mark_image_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE duplicate_keys SET stale = true
    WHERE competition_id IN (SELECT id FROM competitions WHERE image_id = NEW.id);
    RETURN NULL;
END $$;

CREATE TRIGGER images_duplicate_keys_update
    AFTER UPDATE OF phash ON images
    FOR EACH ROW
    WHEN (OLD.phash IS DISTINCT FROM NEW.phash)
    EXECUTE FUNCTION duplicate_keys_mark_image_stale();

-- Records stored before this migration: keyed by the first refresh that follows.
INSERT INTO duplicate_keys (competition_id) SELECT id FROM competitions;
