// ThreadedNotifier: one SinkWorker thread per sink. A worker long-polls the journal from its
// cursor (Engine::WaitForEvents), sends each wanted event with retries, records the ones it gives
// up on as notification.failed, and saves its cursor after every event it sent (and now and then
// while it only skips events), so a crash repeats at most the event in flight. Requests run on
// threads of their own (StoppableClient), so stopping never waits for a receiver that hangs.
#include "shipd/notify/notifier.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>
#include <thread>

#include "delivery.h"
#include "messages.h"

namespace shipd {
namespace {

using std::chrono::milliseconds;

constexpr int kBatch = 200;
constexpr milliseconds kPoll{1000};            // bounds how long Stop() waits for an idle worker
constexpr milliseconds kStopGrace{2000};       // how long Stop() waits for a request in flight
constexpr int64_t kSkipSaveIntervalMs = 5000;  // how often progress over unwanted events is saved

// What a worker and the requests it started share: the stop flag, and the condition both wait on.
struct StopSignal {
  std::mutex mu;
  std::condition_variable changed;
  bool stopping = false;
};

// Sends each request on a detached thread that shares the client and the signal, and waits for
// its answer, or after the stop at most kStopGrace more: a hanging receiver then holds up neither
// Stop() nor the daemon's exit. An abandoned request ends by itself within its timeout.
class StoppableClient final : public HttpClient {
 public:
  StoppableClient(std::shared_ptr<HttpClient> inner, std::shared_ptr<StopSignal> signal)
      : inner_(std::move(inner)), signal_(std::move(signal)) {}

  Result<HttpResponse> Send(const HttpRequest& request) override {
    auto answer = std::make_shared<std::optional<Result<HttpResponse>>>();
    try {
      std::thread([inner = inner_, signal = signal_, answer, request] {
        auto result = inner->Send(request);
        {
          std::lock_guard lock(signal->mu);
          answer->emplace(std::move(result));
        }
        signal->changed.notify_all();
      }).detach();
    } catch (const std::system_error&) {
      return inner_->Send(request);  // no thread to be had: wait for the answer here
    }
    std::unique_lock lock(signal_->mu);
    signal_->changed.wait(lock, [&] { return answer->has_value() || signal_->stopping; });
    // A receiver about to answer gets a moment, so that its delivery counts and is not repeated.
    signal_->changed.wait_for(lock, kStopGrace, [&] { return answer->has_value(); });
    if (answer->has_value()) return std::move(**answer);
    return Error(ErrorCode::kUnavailable, "POST " + request.url + ": shipd is stopping");
  }

 private:
  const std::shared_ptr<HttpClient> inner_;
  const std::shared_ptr<StopSignal> signal_;
};

class SinkWorker {
 public:
  SinkWorker(NotificationSink sink, int64_t cursor, Engine& engine,
             std::shared_ptr<HttpClient> http, NotificationCursors& cursors, const Clock& clock)
      : sink_(std::move(sink)),
        engine_(engine),
        signal_(std::make_shared<StopSignal>()),
        http_(std::move(http), signal_),
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
      std::lock_guard lock(signal_->mu);
      signal_->stopping = true;
    }
    signal_->changed.notify_all();
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
    std::lock_guard lock(signal_->mu);
    return signal_->stopping;
  }
  // Waits `duration`; false when stopping.
  bool Wait(milliseconds duration) {
    std::unique_lock lock(signal_->mu);
    return !signal_->changed.wait_for(lock, duration, [&] { return signal_->stopping; });
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
    const DeliveryResult result = Deliver(sink_, request, http_, [this](milliseconds duration) {
      if (!Wait(duration)) return false;
      std::lock_guard lock(mu_);
      ++stats_.retries;  // counted as they happen: a sink retrying for long shows it
      return true;
    });
    {
      std::lock_guard lock(mu_);
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
  const std::shared_ptr<StopSignal> signal_;
  StoppableClient http_;
  NotificationCursors& cursors_;
  const Clock& clock_;
  int64_t cursor_;         // worker thread only
  int64_t saved_;          // worker thread only
  mutable std::mutex mu_;  // guards stats_
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
                                                std::shared_ptr<HttpClient> http,
                                                NotificationCursors& cursors, const Clock& clock) {
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
