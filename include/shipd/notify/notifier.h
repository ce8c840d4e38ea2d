// Notifier: sends chosen journal events to the notification sinks of shipd.yaml (signed webhooks,
// Slack incoming webhooks). Each sink has a thread of its own that tails the journal from its
// persisted cursor, so a slow or dead receiver delays only its own sink and never the engine.
// Delivery is at least once; docs/notifications.md. Stop() and Stats() are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shipd/common/clock.h"
#include "shipd/common/http_client.h"
#include "shipd/common/result.h"
#include "shipd/config/notifications.h"
#include "shipd/engine/engine.h"
#include "shipd/store/notification_cursors.h"

namespace shipd {

struct SinkStats {
  std::string sink;
  uint64_t delivered = 0;  // events the receiver accepted (2xx)
  uint64_t failed = 0;     // events given up on (recorded as notification.failed)
  uint64_t retries = 0;    // attempts after the first
  int64_t cursor = 0;      // the last journal event the sink is done with
};

class Notifier {
 public:
  virtual ~Notifier() = default;
  // Interrupts retries, gives requests in flight two seconds to be answered and then abandons them
  // (their events are sent again after a restart), and saves the cursors. Call before stopping
  // the engine.
  virtual void Stop() = 0;
  virtual std::vector<SinkStats> Stats() const = 0;
};

// Appends the notifier's metric families in Prometheus text format: per sink, events delivered,
// given up on and retried (counters), and how many journal events it is behind (gauge).
void RenderNotifierMetrics(const std::vector<SinkStats>& stats, int64_t last_event_id,
                           std::string& out);

// Loads each sink's cursor (a sink seen for the first time starts at the journal's current end)
// and starts one thread per sink. The engine and the cursors must outlive the notifier; the client
// is shared, because a request abandoned by Stop() finishes on a thread of its own.
Result<std::unique_ptr<Notifier>> StartNotifier(Engine& engine, std::vector<NotificationSink> sinks,
                                                std::shared_ptr<HttpClient> http,
                                                NotificationCursors& cursors, const Clock& clock);

}  // namespace shipd
