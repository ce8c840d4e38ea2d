// Clock: the one source of time, injected everywhere so tests run on a fake clock.
// SystemClock is thread-safe; FakeClock is thread-safe and only moves when told to.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace shipd {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch, UTC.
  virtual int64_t NowMs() const = 0;
  // Calls `jumped` whenever time moves other than by itself passing (FakeClock::Advance), so
  // timers computed from NowMs() can be re-armed. Returns an id for Unwatch. SystemClock: no-op.
  virtual int Watch(std::function<void()> jumped) const {
    (void)jumped;
    return 0;
  }
  virtual void Unwatch(int id) const { (void)id; }
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1'800'000'000'000) : now_(start_ms) {}
  int64_t NowMs() const override { return now_.load(); }
  void Advance(std::chrono::milliseconds by) {
    now_ += by.count();
    std::map<int, std::function<void()>> watchers;
    {
      std::lock_guard lock(mutex_);
      watchers = watchers_;
    }
    for (auto& [id, jumped] : watchers) jumped();
  }
  int Watch(std::function<void()> jumped) const override {
    std::lock_guard lock(mutex_);
    watchers_.emplace(++last_id_, std::move(jumped));
    return last_id_;
  }
  void Unwatch(int id) const override {
    std::lock_guard lock(mutex_);
    watchers_.erase(id);
  }

 private:
  std::atomic<int64_t> now_;
  mutable std::mutex mutex_;
  mutable std::map<int, std::function<void()>> watchers_;
  mutable int last_id_ = 0;
};

}  // namespace shipd
