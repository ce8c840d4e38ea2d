-- 0005_audit_chain: hash-chains the journal so that a changed or removed event is detectable.
-- `hash` is the lowercase hex SHA-256 the store computes over the previous event's hash and this
-- event's columns (encoding in docs/audit.md), written in the same INSERT as the row. Events
-- written before this migration keep a NULL hash: `audit_chain.legacy_through` records the last
-- of them, and every event after it must carry a hash. Both rows are as append-only as the rest.

ALTER TABLE events ADD COLUMN hash TEXT
  CHECK (hash IS NULL OR (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'));

CREATE TABLE audit_chain (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  legacy_through INTEGER NOT NULL
) STRICT;
INSERT INTO audit_chain (id, legacy_through)
  SELECT 1, max(coalesce((SELECT max(id) FROM events), 0),
                 coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0));

CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN
  SELECT RAISE(ABORT, 'the audit chain genesis is immutable');
END;
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN
  SELECT RAISE(ABORT, 'the audit chain genesis is immutable');
END;
