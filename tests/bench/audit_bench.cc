// The audit chain's costs on a real database file: appending events (each hashed and linked), one
// event per transaction (an audited request's extra write) and walking the whole chain.
// Usage: audit_bench [EVENTS] [DIR]   (defaults: 100000, a fresh directory under /tmp)
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "shipd/store/store.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

shipd::Event Sample(int64_t i) {
  return shipd::Event{0,
                      1700000000000 + i,
                      "ci",
                      "audit.request",
                      "POST /v1/services",
                      R"({"request_id":"0123456789abcdef","method":"POST","path":"/v1/services",)"
                      R"("status":201,"token":"ci","source":"127.0.0.1"})"};
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t total = argc > 1 ? std::stoll(argv[1]) : 100000;
  std::string pattern =
      argc > 2 ? std::string(argv[2])
               : (std::filesystem::temp_directory_path() / "audit-bench-XXXXXX").string();
  if (argc <= 2 && mkdtemp(pattern.data()) == nullptr) return 3;
  const std::filesystem::path dir = pattern;
  auto store = shipd::OpenSqliteStore({(dir / "shipd.db").string(), ""});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.error().message().c_str());
    return 3;
  }

  constexpr int64_t kBatch = 1000;
  auto start = std::chrono::steady_clock::now();
  for (int64_t done = 0; done < total; done += kBatch) {
    std::vector<shipd::Event> batch;
    for (int64_t i = 0; i < kBatch && done + i < total; ++i) batch.push_back(Sample(done + i));
    if (auto ids = (*store)->AppendEvents(batch); !ids.ok()) {
      std::fprintf(stderr, "%s\n", ids.error().message().c_str());
      return 3;
    }
  }
  const double append = Seconds(start);
  std::printf("append %lld events in batches of %lld: %.2f s (%.1f us/event)\n",
              static_cast<long long>(total), static_cast<long long>(kBatch), append,
              append / static_cast<double>(total) * 1e6);

  constexpr int kSingles = 200;
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < kSingles; ++i) {
    if (!(*store)->AppendEvents({Sample(i)}).ok()) return 3;
  }
  const double singles = Seconds(start);
  std::printf("append 1 event per transaction (synchronous=FULL): %.2f ms each\n",
              singles / kSingles * 1e3);

  for (int run = 1; run <= 3; ++run) {
    start = std::chrono::steady_clock::now();
    auto verified = (*store)->VerifyChain({});
    const double verify = Seconds(start);
    if (!verified.ok() || !verified->ok) return 1;
    std::printf("verify run %d: %lld events in %.3f s (%.0f events/s)\n", run,
                static_cast<long long>(verified->checked), verify,
                static_cast<double>(verified->checked) / verify);
  }
  if (argc <= 2) std::filesystem::remove_all(dir);
  return 0;
}
