-- The nightly catalog report goes to the admin WhatsApp group once per day, like the IG report.
ALTER TABLE broadcasts DROP CONSTRAINT broadcasts_purpose_check;
ALTER TABLE broadcasts ADD CONSTRAINT broadcasts_purpose_check
    CHECK (purpose IN ('publish', 'review_notify', 'ig_report', 'catalog_report'));
