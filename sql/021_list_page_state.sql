-- What a list page held when it was last answered in full (its parsed cards, errors and next
-- link), kept beside its validators: a "304 Not Modified" next pass stands in with these cards,
-- so known complete items still skip their detail and incomplete ones are still fetched again.
-- NULL for feeds (a feed's 304 means nothing new to read).
ALTER TABLE crawl_validators ADD COLUMN page_state jsonb;
