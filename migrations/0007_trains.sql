-- 0007_trains: release trains (docs/trains.md). A train is a named route of environments with an
-- optional cadence; each departure is a trip, numbered from 1, whose cars (service@version) are
-- promoted environment by environment in dependency order. The trip that is boarding is the
-- highest-numbered one whose state is 'boarding'.

CREATE TABLE trains (
  name       TEXT PRIMARY KEY,
  route      TEXT NOT NULL,            -- JSON array of environment names, in travel order
  cadence    TEXT NOT NULL DEFAULT '', -- 5-field cron; '' for a train that departs on request
  timezone   TEXT NOT NULL DEFAULT 'UTC',
  cutoff_ms  INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE train_trips (
  train        TEXT NOT NULL REFERENCES trains (name),
  number       INTEGER NOT NULL,
  state        TEXT NOT NULL,            -- boarding, departed, arrived
  env_index    INTEGER NOT NULL DEFAULT 0, -- departed: the route environment being travelled
  scheduled_at INTEGER,                  -- cadence: when this trip departs by itself
  departed_at  INTEGER,
  departed_by  TEXT NOT NULL DEFAULT '',
  arrived_at   INTEGER,
  PRIMARY KEY (train, number)
) WITHOUT ROWID;

CREATE TABLE train_cars (
  train        TEXT NOT NULL,
  trip         INTEGER NOT NULL,
  service      TEXT NOT NULL,
  version      TEXT NOT NULL,
  position     INTEGER NOT NULL,         -- boarding order; departure orders by dependencies
  state        TEXT NOT NULL,            -- boarded, waiting, starting, promoting, arrived, failed, left
  env_index    INTEGER NOT NULL DEFAULT 0,
  promotion_id INTEGER NOT NULL DEFAULT 0,
  reason       TEXT NOT NULL DEFAULT '',
  depends_on   TEXT NOT NULL DEFAULT '[]', -- JSON array of services on the same trip
  boarded_by   TEXT NOT NULL,
  boarded_at   INTEGER NOT NULL,
  carried_from INTEGER NOT NULL DEFAULT 0, -- the trip it was carried over from; 0: none
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (train, trip, service),
  FOREIGN KEY (train, trip) REFERENCES train_trips (train, number)
) WITHOUT ROWID;
