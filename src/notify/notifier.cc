// ThreadedNotifier: one SinkWorker thread per sink. A worker long-polls the journal from its
// cursor (Engine::WaitForEvents), sends each wanted event with retries, records the ones it gives
// up on as notification.failed, and saves its cursor after every event it sent (and now and then
// while it only skips events), so a crash repeats at most the event in flight.
#include "shipd/notify/notifier.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "delivery.h"
#include "messages.h"

namespace shipd {
namespace {

using std::chrono::milliseconds;

constexpr int kBatch = 200;
constexpr milliseconds kPoll{1000};            // bounds how long Stop() waits for an idle worker
constexpr int64_t kSkipSaveIntervalMs = 5000;  // how often progress over unwanted events is saved

class SinkWorker {
 public:
  SinkWorker(NotificationSink sink, int64_t cursor, Engine& engine, HttpClient& http,
             NotificationCursors& cursors, const Clock& clock)
      : sink_(std::move(sink)),
        engine_(engine),
        http_(http),
        cursors_(cursors),
        clock_(clock),
        cursor_(cursor),
        saved_(cursor) {
    stats_.sink = sink_.name;
    stats_.cursor = cursor;
    thread_ = std::thread([this] { Run(); });
  }
  ~SinkWorker() { Stop(); }

  void RequestStop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
  }
  void Stop() {
    RequestStop();
    if (thread_.joinable()) thread_.join();
  }
  SinkStats Stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  bool Stopping() const {
    std::lock_guard lock(mu_);
    return stopping_;
  }
  // Waits `duration`; false when stopping.
  bool Wait(milliseconds duration) {
    std::unique_lock lock(mu_);
    return !wake_.wait_for(lock, duration, [&] { return stopping_; });
  }

  void Run() {
    int64_t last_save_ms = clock_.NowMs();
    while (!Stopping()) {
      auto events = engine_.WaitForEvents(cursor_, kBatch, kPoll);
      if (!events.ok()) {
        spdlog::warn("notification {}: reading the journal: {}", sink_.name,
                     events.error().message());
        if (!Wait(kPoll)) break;
        continue;
      }
      for (const Event& event : *events) {
        if (Stopping()) break;
        if (SinkWants(sink_, event)) {
          if (!Send(event)) break;  // stopping: this event goes again after a restart
          cursor_ = event.id;
          Save();
          last_save_ms = clock_.NowMs();
        } else {
          cursor_ = event.id;
        }
      }
      {
        std::lock_guard lock(mu_);
        stats_.cursor = cursor_;
      }
      if (cursor_ != saved_ && clock_.NowMs() - last_save_ms >= kSkipSaveIntervalMs) {
        Save();
        last_save_ms = clock_.NowMs();
      }
    }
    if (cursor_ != saved_) Save();
  }

  // False when the notifier stopped before the event was done with.
  bool Send(const Event& event) {
    const HttpRequest request = NotificationRequest(sink_, event);
    const DeliveryResult result =
        Deliver(sink_, request, http_, [this](milliseconds duration) { return Wait(duration); });
    {
      std::lock_guard lock(mu_);
      stats_.retries += static_cast<uint64_t>(std::max(result.attempts - 1, 0));
      if (result.outcome == DeliveryOutcome::kDelivered) ++stats_.delivered;
      if (result.outcome == DeliveryOutcome::kFailed) ++stats_.failed;
    }
    if (result.outcome == DeliveryOutcome::kStopped) return false;
    if (result.outcome == DeliveryOutcome::kDelivered) return true;
    spdlog::warn("notification {}: gave up on event {} ({}) after {} attempts: {}", sink_.name,
                 event.id, event.kind, result.attempts, result.error);
    const nlohmann::json data = {
        {"sink", sink_.name},          {"event", event.id},
        {"kind", event.kind},          {"delivery", DeliveryId(sink_, event)},
        {"attempts", result.attempts}, {"error", result.error}};
    // Its kind is never sent (MatchesEventPatterns), so a failing sink cannot feed itself.
    if (auto recorded = engine_.RecordEvent({"notifier", ""}, "notification.failed", event.subject,
                                            data.dump());
        !recorded.ok()) {
      spdlog::warn("notification {}: recording the failure: {}", sink_.name,
                   recorded.error().message());
    }
    return true;
  }

  void Save() {
    if (auto saved = cursors_.Save(sink_.name, cursor_, clock_.NowMs()); !saved.ok()) {
      spdlog::warn("notification {}: {}", sink_.name, saved.error().message());
      return;
    }
    saved_ = cursor_;
  }

  const NotificationSink sink_;
  Engine& engine_;
  HttpClient& http_;
  NotificationCursors& cursors_;
  const Clock& clock_;
  int64_t cursor_;  // worker thread only
  int64_t saved_;   // worker thread only
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  SinkStats stats_;
  std::thread thread_;  // last: started once everything else is set
};

class ThreadedNotifier final : public Notifier {
 public:
  explicit ThreadedNotifier(std::vector<std::unique_ptr<SinkWorker>> workers)
      : workers_(std::move(workers)) {}
  ~ThreadedNotifier() override { Stop(); }

  void Stop() override {
    for (auto& worker : workers_) worker->RequestStop();  // all at once, then wait for each
    for (auto& worker : workers_) worker->Stop();
  }
  std::vector<SinkStats> Stats() const override {
    std::vector<SinkStats> out;
    for (const auto& worker : workers_) out.push_back(worker->Stats());
    return out;
  }

 private:
  std::vector<std::unique_ptr<SinkWorker>> workers_;
};

}  // namespace

void RenderNotifierMetrics(const std::vector<SinkStats>& stats, int64_t last_event_id,
                           std::string& out) {
  if (stats.empty()) return;
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const SinkStats& sink : stats) {
      out +=
          std::string(name) + "{sink=\"" + sink.sink + "\"} " + std::to_string(value(sink)) + "\n";
    }
  };
  family("shipd_notifications_delivered_total", "counter",
         "Notifications the receiver accepted, per sink.",
         [](const SinkStats& s) { return s.delivered; });
  family("shipd_notifications_failed_total", "counter",
         "Notifications given up on (notification.failed), per sink.",
         [](const SinkStats& s) { return s.failed; });
  family("shipd_notification_retries_total", "counter",
         "Delivery attempts after the first, per sink.",
         [](const SinkStats& s) { return s.retries; });
  family("shipd_notification_lag_events", "gauge", "Journal events a sink has not yet dealt with.",
         [&](const SinkStats& s) { return std::max<int64_t>(last_event_id - s.cursor, 0); });
}

Result<std::unique_ptr<Notifier>> StartNotifier(Engine& engine, std::vector<NotificationSink> sinks,
                                                HttpClient& http, NotificationCursors& cursors,
                                                const Clock& clock) {
  std::vector<std::pair<NotificationSink, int64_t>> starts;
  for (auto& sink : sinks) {
    auto cursor = cursors.Load(sink.name);
    if (!cursor.ok()) return cursor.error();
    int64_t start = 0;
    if (*cursor) {
      start = **cursor;
    } else {
      // New: from the journal's end, not its history. Saved now, so that events recorded before
      // a crash that follows are not skipped.
      start = engine.Snapshot()->last_event_id;
      SHIPD_RETURN_IF_ERROR(cursors.Save(sink.name, start, clock.NowMs()));
    }
    starts.emplace_back(std::move(sink), start);
  }
  std::vector<std::unique_ptr<SinkWorker>> workers;
  for (auto& [sink, start] : starts) {
    spdlog::info("notification {}: {} to {}, from event {}", sink.name,
                 sink.type == SinkType::kWebhook ? "webhook" : "slack", sink.url, start);
    workers.push_back(
        std::make_unique<SinkWorker>(std::move(sink), start, engine, http, cursors, clock));
  }
  return std::unique_ptr<Notifier>(std::make_unique<ThreadedNotifier>(std::move(workers)));
}

}  // namespace shipd
