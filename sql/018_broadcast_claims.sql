-- When a broadcast was last claimed for sending: a claim whose sender died before recording the
-- outcome (status stays 'sending') is recognised by its age and handed to a person as 'unknown'.
ALTER TABLE broadcasts ADD COLUMN claimed_at timestamptz NOT NULL DEFAULT now();
UPDATE broadcasts SET claimed_at = created_at;
CREATE INDEX broadcasts_sending_idx ON broadcasts (claimed_at) WHERE status = 'sending';
