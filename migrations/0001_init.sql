-- 0001_init: the registry, environments, what is deployed where, the event journal and API tokens.
-- Applied inside one transaction by the migration runner (src/store/migrations.cc); no BEGIN/COMMIT
-- here. Times are milliseconds since the Unix epoch (UTC). Versions and their contracts are
-- immutable and the journal is append-only: triggers enforce both, so no code path can forget.

CREATE TABLE services (
  name       TEXT    NOT NULL PRIMARY KEY,
  repo       TEXT    NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
) STRICT;

-- `version` is the canonical semver text (Semver::ToString, build metadata included) and is what
-- other tables reference. major/minor/patch/prerelease are derived from it for sorting and range
-- queries in SQL; prerelease is the dot-joined identifiers, '' for a release.
CREATE TABLE versions (
  service      TEXT    NOT NULL REFERENCES services (name),
  version      TEXT    NOT NULL,
  major        INTEGER NOT NULL,
  minor        INTEGER NOT NULL,
  patch        INTEGER NOT NULL,
  prerelease   TEXT    NOT NULL DEFAULT '',
  artifact     TEXT    NOT NULL DEFAULT '',
  commit_sha   TEXT    NOT NULL DEFAULT '',
  tag          TEXT    NOT NULL DEFAULT '',
  content_hash TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  UNIQUE (service, version)
) STRICT;
-- Versions equal in semver precedence (differing only in build metadata) would be ambiguous for
-- the contract gate, so they are one version; this index also serves "newest first" queries.
CREATE UNIQUE INDEX versions_by_precedence ON versions (service, major, minor, patch, prerelease);

-- One row per API a version provides; `spec` is the OpenAPI document as JSON text, NULL when none.
CREATE TABLE provides (
  service     TEXT NOT NULL,
  version     TEXT NOT NULL,
  api         TEXT NOT NULL,
  api_version TEXT NOT NULL,
  spec        TEXT,
  PRIMARY KEY (service, version, api),
  FOREIGN KEY (service, version) REFERENCES versions (service, version)
) STRICT;
CREATE INDEX provides_by_api ON provides (api, api_version);

-- `range` is the node-semver range as the user wrote it (Range::text), parsed again on load.
CREATE TABLE requires (
  service  TEXT    NOT NULL,
  version  TEXT    NOT NULL,
  api      TEXT    NOT NULL,
  range    TEXT    NOT NULL,
  optional INTEGER NOT NULL DEFAULT 0 CHECK (optional IN (0, 1)),
  PRIMARY KEY (service, version, api),
  FOREIGN KEY (service, version) REFERENCES versions (service, version)
) STRICT;
CREATE INDEX requires_by_api ON requires (api);

-- The pipeline's environments, replaced as a whole whenever the pipelines are loaded. `after`
-- names the upstream environment, NULL when none; validated by the pipeline loader.
CREATE TABLE environments (
  name     TEXT    NOT NULL PRIMARY KEY,
  position INTEGER NOT NULL,
  "after"  TEXT
) STRICT;

-- What runs of each service in each environment. No foreign key to environments on purpose: the
-- deployments of an environment removed from the pipelines stay on record.
CREATE TABLE deployments (
  environment    TEXT    NOT NULL,
  service        TEXT    NOT NULL REFERENCES services (name),
  stable_version TEXT,
  canary_version TEXT,
  canary_weight  INTEGER NOT NULL DEFAULT 0 CHECK (canary_weight BETWEEN 0 AND 100),
  updated_at     INTEGER NOT NULL,
  PRIMARY KEY (environment, service),
  FOREIGN KEY (service, stable_version) REFERENCES versions (service, version),
  FOREIGN KEY (service, canary_version) REFERENCES versions (service, version)
) STRICT;

-- The journal. AUTOINCREMENT: ids are never reused, so readers paging with `after` miss nothing.
CREATE TABLE events (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  time    INTEGER NOT NULL,
  actor   TEXT    NOT NULL,
  kind    TEXT    NOT NULL,
  subject TEXT    NOT NULL,
  data    TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(data))
) STRICT;
CREATE INDEX events_by_subject ON events (subject, id);

-- Only the SHA-256 of a token is stored (lowercase hex); the token text never is.
CREATE TABLE tokens (
  sha256     TEXT    NOT NULL PRIMARY KEY
                     CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
  name       TEXT    NOT NULL UNIQUE,
  role       TEXT    NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
  SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
  SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER versions_immutable BEFORE UPDATE ON versions
BEGIN
  SELECT RAISE(ABORT, 'versions are immutable');
END;
CREATE TRIGGER provides_immutable BEFORE UPDATE ON provides
BEGIN
  SELECT RAISE(ABORT, 'provides of a version are immutable');
END;
CREATE TRIGGER requires_immutable BEFORE UPDATE ON requires
BEGIN
  SELECT RAISE(ABORT, 'requires of a version are immutable');
END;
