-- 0003_webhook_deliveries: webhook deliveries already accepted, by host and delivery id, so that a
-- redelivery (hosts retry on timeouts, people press "redeliver") registers nothing twice.

CREATE TABLE webhook_deliveries (
  host        TEXT    NOT NULL,
  delivery_id TEXT    NOT NULL,
  service     TEXT    NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (host, delivery_id)
) STRICT;
