-- 0006_locks_freezes: holds an operator put on promotions. A lock holds one service in one
-- environment (service set); an ad-hoc freeze holds a whole environment (service = ''). Setting
-- a hold again replaces it; an expired hold is ignored by the engine and may be deleted later.

CREATE TABLE holds (
  environment TEXT NOT NULL,
  service     TEXT NOT NULL,  -- '' for an environment freeze
  owner       TEXT NOT NULL,
  reason      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER,        -- NULL: until removed (locks only; freezes always end)
  PRIMARY KEY (environment, service)
) WITHOUT ROWID;
