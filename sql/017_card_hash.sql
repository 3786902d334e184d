-- A hash of the list card a web item was found on: a re-run skips the detail page of a known,
-- complete item whose card is unchanged, and refreshes the item when the card changed.
ALTER TABLE raw_items ADD COLUMN card_hash text;

-- The validators (ETag, Last-Modified) of the last full answer of a feed: the next pass asks
-- conditionally (while every item of the source is complete), and a "304 Not Modified" means
-- nothing new to read.
CREATE TABLE crawl_validators (
    url            text        PRIMARY KEY,
    source_name    text        NOT NULL,
    etag           text,
    last_modified  text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
