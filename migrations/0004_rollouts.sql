-- 0004_rollouts: where each rollout is in its strategy (step, weight, timers' deadlines, check
-- tallies) as one JSON object owned by the engine, so a restarted daemon resumes from it; and an
-- index to read one promotion's step history from the journal.

ALTER TABLE promotions ADD COLUMN progress TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(progress));

CREATE INDEX events_by_promotion ON events (json_extract(data, '$.promotion'), id)
  WHERE json_extract(data, '$.promotion') IS NOT NULL;
