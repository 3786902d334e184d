-- Extraction shards (several steps, on several machines) share the queue: a shard claims an
-- item by stamping it, under FOR UPDATE SKIP LOCKED, and keeps the stamp fresh while it works.
-- A claim older than the lease belongs to a lost worker and is taken again by any shard.
ALTER TABLE raw_items
    ADD COLUMN extraction_claimed_by text,
    ADD COLUMN extraction_claimed_at timestamptz;

-- What each shard of a run did, committed with each record it stored, so the run's summary
-- (the extracted_fields metadata) adds up every shard, a lost worker's finished records included.
CREATE TABLE extraction_shard_reports (
    run_id      text        NOT NULL,
    part        text        NOT NULL,  -- shard step and attempt
    worker      text        NOT NULL,  -- host/pid that executed it
    seq         integer     NOT NULL,
    summary     jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, part)
);

-- the heartbeat renews one claimer's stamps
CREATE INDEX raw_items_extraction_claimed_by_idx ON raw_items (extraction_claimed_by)
    WHERE extraction_claimed_by IS NOT NULL;
