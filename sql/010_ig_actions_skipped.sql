-- An incoming comment/DM that no rule, template or draft answers is recorded once as 'skipped':
-- without it an unanswerable unread DM made the reply sensor launch a run every minute.
ALTER TABLE ig_actions DROP CONSTRAINT ig_actions_status_check;
ALTER TABLE ig_actions ADD CONSTRAINT ig_actions_status_check CHECK (status IN
    ('planned', 'awaiting_approval', 'sending', 'done', 'failed', 'rejected', 'unknown',
     'skipped'));
