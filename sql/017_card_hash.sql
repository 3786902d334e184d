-- A hash of the list card a web item was found on: a re-run skips the detail page of a known,
-- complete item whose card is unchanged, and refreshes the item when the card changed.
ALTER TABLE raw_items ADD COLUMN card_hash text;
