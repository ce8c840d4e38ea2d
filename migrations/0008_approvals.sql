-- 0008_approvals: who approved a promotion, for which gate. `step` -1 is the environment's
-- `approvals` before the rollout starts; N >= 0 is the strategy's approve step N. An approval
-- belongs to one promotion (so to its exact service@version: it never counts for another), and
-- one token counts once per gate (the primary key). Rows are never updated or deleted.

CREATE TABLE approvals (
  promotion   INTEGER NOT NULL REFERENCES promotions (id),
  step        INTEGER NOT NULL CHECK (step >= -1),
  service     TEXT    NOT NULL,
  version     TEXT    NOT NULL,
  environment TEXT    NOT NULL,
  approver    TEXT    NOT NULL,  -- the token name
  roles       TEXT    NOT NULL DEFAULT '',  -- the token's roles when it approved, comma-separated
  reason      TEXT    NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (promotion, step, approver)
) STRICT;
