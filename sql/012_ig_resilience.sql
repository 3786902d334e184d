-- Instagram operations that survive real Instagram (issue 11).

-- Comments are read by id, not by count: the newest comment pk already handled per media.
-- Counts drop when a comment is deleted and rise with threaded replies; the count stays only as
-- a cheap "something changed" hint for the sensor.
ALTER TABLE ig_media_watermarks ADD COLUMN newest_comment_pk text;

-- Escalating cooldown (15 min -> 1 h -> 6 h from the spec) and accounts stopped by Instagram:
-- a challenge needs a person, so the account is stopped until someone clears it.
ALTER TABLE ig_accounts ADD COLUMN cooldown_level integer NOT NULL DEFAULT 0;
ALTER TABLE ig_accounts ADD COLUMN stopped_reason text;
ALTER TABLE ig_accounts ADD COLUMN stopped_at timestamptz;
