-- The extraction cost ceiling: each raw item gets a bounded number of extraction passes with a
-- growing wait between them, and the attempts ledger records what each call cost.

ALTER TABLE raw_items
    ADD COLUMN extraction_tries    integer     NOT NULL DEFAULT 0,  -- unfinished extraction passes
    ADD COLUMN extraction_next_at  timestamptz;                     -- not retried before this

ALTER TABLE extraction_attempts
    ADD COLUMN ocr_pages  integer,          -- pages billed by an OCR provider (Mistral)
    ADD COLUMN cost_usd   numeric(16, 9);   -- estimated from the settings' price table

