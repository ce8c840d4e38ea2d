// Clock: the one source of time, injected everywhere so tests run on a fake clock.
// SystemClock is thread-safe; FakeClock is thread-safe and only moves when told to.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace shipd {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch, UTC.
  virtual int64_t NowMs() const = 0;
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
  void Advance(std::chrono::milliseconds by) { now_ += by.count(); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace shipd
