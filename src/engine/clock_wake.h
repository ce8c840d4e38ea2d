// ClockWake: wakes a strand when the earliest of a component's deadlines on the injected Clock is
// due. One Asio timer, capped at a second so a wall clock that jumps (or a fake clock that stands
// still) is re-read; a FakeClock that is moved (Clock::Watch) wakes it at once. The owner keeps
// its deadlines and calls Arm() with the earliest after each change. Strand only, except the
// constructor.
#pragma once

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <utility>

#include "shipd/common/clock.h"
#include "shipd/model/registry.h"

namespace shipd {

class ClockWake {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

  // `wake` runs on the strand when a deadline may be due (or the clock moved).
  ClockWake(const Clock& clock, Strand strand, std::function<void()> wake)
      : clock_(clock), strand_(std::move(strand)), timer_(strand_), wake_(std::move(wake)) {
    watch_ = clock_.Watch([this] { boost::asio::post(strand_, [this] { Fire(); }); });
  }
  ~ClockWake() { Stop(); }
  ClockWake(const ClockWake&) = delete;
  ClockWake& operator=(const ClockWake&) = delete;

  // Sets the timer for `at`; nullopt: no deadline (only a moved clock wakes).
  void Arm(std::optional<TimeMs> at) {
    if (stopped_) return;
    if (!at) {
      timer_.cancel();
      return;
    }
    const int64_t delay = std::max<int64_t>(0, *at - clock_.NowMs());
    timer_.expires_after(std::chrono::milliseconds(std::min<int64_t>(delay, 1000)));
    timer_.async_wait(boost::asio::bind_executor(strand_, [this](boost::system::error_code ec) {
      if (!ec) Fire();
    }));
  }

  // No more wakes. Idempotent.
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    clock_.Unwatch(watch_);
    timer_.cancel();
  }

 private:
  void Fire() {
    if (!stopped_) wake_();
  }

  const Clock& clock_;
  Strand strand_;
  boost::asio::steady_timer timer_;
  std::function<void()> wake_;
  int watch_ = 0;
  bool stopped_ = false;
};

}  // namespace shipd
