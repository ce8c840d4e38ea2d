-- 0009_notifications: how far each notification sink has got through the journal. A sink is done
-- with every event up to last_event_id (delivered, given up on, or not of interest); after a
-- restart it goes on from there. A sink seen for the first time starts at the journal's end.

CREATE TABLE notification_cursors (
  sink          TEXT    PRIMARY KEY,
  last_event_id INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
) STRICT;
