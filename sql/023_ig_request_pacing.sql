-- When an Instagram account may send its next private-API request. Every process that uses the
-- account (the reply sensor, runs, other machines) reserves its turn here, so consecutive
-- requests of one account keep a human pace whoever sends them, while the first request after a
-- quiet spell goes at once (see lomba_pipeline/resources/instagram_pacing.py).
CREATE TABLE ig_request_pacing (
    username  text        PRIMARY KEY,
    next_at   timestamptz NOT NULL
);
