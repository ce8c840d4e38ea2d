// fsync_delay: an LD_PRELOAD library that makes fsync and fdatasync sleep before doing the real
// call, to give a database on tmpfs the fsync latency of a chosen disk, steadily or from a moment
// on. For rollout_bench experiments (docs/benchmarks.md, "Concurrent rollouts"); not part of
// shipd.
//
//   FSYNC_DELAY_US=1000 LD_PRELOAD=build-release/lib/libfsync_delay.so rollout_bench --dir /dev/shm
//   FSYNC_DELAY_FILE=/tmp/delay ...   # the delay (µs) is read from the file, at most every 50 ms
//   FSYNC_DELAY_REPORT=1 ...          # prints the number of calls at exit
#include <dlfcn.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace {

std::atomic<long> calls{0};
std::atomic<long> delay_us{0};
std::atomic<long> next_read_ns{0};

long NowNs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1'000'000'000L + t.tv_nsec;
}

void Delay() {
  ++calls;
  if (const char* file = std::getenv("FSYNC_DELAY_FILE")) {
    const long now = NowNs();
    if (now >= next_read_ns.load()) {
      next_read_ns = now + 50'000'000L;
      if (FILE* f = std::fopen(file, "r")) {
        long value = 0;
        if (std::fscanf(f, "%ld", &value) == 1) delay_us = value;
        std::fclose(f);
      }
    }
  } else if (const char* text = std::getenv("FSYNC_DELAY_US")) {
    delay_us = std::atol(text);
  }
  if (const long us = delay_us.load(); us > 0) {
    const timespec d{us / 1'000'000, (us % 1'000'000) * 1000};
    nanosleep(&d, nullptr);
  }
}

using SyncFn = int (*)(int);

SyncFn Next(const char* name) { return reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, name)); }

struct Report {
  ~Report() {
    if (std::getenv("FSYNC_DELAY_REPORT"))
      std::fprintf(stderr, "fsync_delay: %ld calls\n", calls.load());
  }
} report;

}  // namespace

extern "C" int fdatasync(int fd) {
  static const SyncFn real = Next("fdatasync");
  Delay();
  return real(fd);
}

extern "C" int fsync(int fd) {
  static const SyncFn real = Next("fsync");
  Delay();
  return real(fd);
}
