-- 0002_promotions: promotion requests and their outcome, and the rollback target of each deployment.
-- The rollout engine drives `state` through queued → waiting → progressing ⇄ paused → a terminal
-- state; until it lands, allowed promotions are recorded as succeeded at once ("instant").

ALTER TABLE deployments ADD COLUMN previous_version TEXT;

CREATE TABLE promotions (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  service         TEXT    NOT NULL,
  version         TEXT    NOT NULL,
  environment     TEXT    NOT NULL,
  state           TEXT    NOT NULL CHECK (state IN ('queued', 'waiting', 'progressing', 'paused',
                                                    'succeeded', 'rolled_back', 'failed',
                                                    'aborted')),
  requested_by    TEXT    NOT NULL,
  override_reason TEXT    NOT NULL DEFAULT '',
  verdict         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(verdict)),
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  finished_at     INTEGER,
  FOREIGN KEY (service, version) REFERENCES versions (service, version)
) STRICT;
CREATE INDEX promotions_by_target ON promotions (environment, service, id);
CREATE INDEX promotions_by_state ON promotions (state, id);
