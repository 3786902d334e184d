-- The nightly Instagram report is also a WhatsApp message (to the admin group), sent once per day
-- through the same idempotent broadcasts ledger as catalog records.
ALTER TABLE broadcasts DROP CONSTRAINT broadcasts_purpose_check;
ALTER TABLE broadcasts ADD CONSTRAINT broadcasts_purpose_check
    CHECK (purpose IN ('publish', 'review_notify', 'ig_report'));
