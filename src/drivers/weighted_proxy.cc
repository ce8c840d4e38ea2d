#include "weighted_proxy.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string_view>
#include <vector>

namespace shipd {
namespace {

constexpr size_t kMaxSamplesPerVersion = 200'000;  // bounds memory under a flood

// Headers that describe one connection, not the message; never forwarded. httplib also puts
// the peer's address into the request headers. Encodings are dropped because the client
// decompresses what it receives.
bool Forwardable(std::string_view name) {
  static constexpr std::array<std::string_view, 14> kDropped = {
      "connection",  "keep-alive",  "proxy-connection", "transfer-encoding", "te",
      "trailer",     "upgrade",     "content-length",   "accept-encoding",   "content-encoding",
      "remote_addr", "remote_port", "local_addr",       "local_port"};
  return std::none_of(kDropped.begin(), kDropped.end(), [&](std::string_view dropped) {
    return name.size() == dropped.size() &&
           std::equal(name.begin(), name.end(), dropped.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == b;
           });
  });
}

double Percentile(std::vector<double>& sorted, double quantile) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(quantile * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

WeightedProxy::WeightedProxy(const Clock& clock, std::chrono::milliseconds window)
    : clock_(clock), window_(window) {}

Result<std::unique_ptr<WeightedProxy>> WeightedProxy::Start(const Clock& clock,
                                                            std::chrono::milliseconds window) {
  std::unique_ptr<WeightedProxy> proxy(new WeightedProxy(clock, window));
  WeightedProxy* self = proxy.get();
  auto handler = [self](const httplib::Request& request, httplib::Response& response) {
    self->Handle(request, response);
  };
  const char* kAny = ".*";
  proxy->server_.Get(kAny, handler)
      .Post(kAny, handler)
      .Put(kAny, handler)
      .Patch(kAny, handler)
      .Delete(kAny, handler)
      .Options(kAny, handler);
  proxy->server_.set_keep_alive_timeout(2);  // idle clients hold up shutdown this long at most
  // An answer goes out in two writes (head, body): with Nagle's algorithm the second waits for
  // the client's delayed ACK, about 40 ms on every request of a kept-alive connection.
  proxy->server_.set_tcp_nodelay(true);
  proxy->port_ = proxy->server_.bind_to_any_port("127.0.0.1");
  if (proxy->port_ <= 0) {
    return Error(ErrorCode::kIo, "cannot listen on a loopback port for the proxy");
  }
  proxy->thread_ = std::thread([self] { self->server_.listen_after_bind(); });
  // httplib's stop() is a no-op until the accept loop runs.
  while (!proxy->server_.is_running()) std::this_thread::yield();
  return proxy;
}

WeightedProxy::~WeightedProxy() {
  server_.stop();
  thread_.join();
}

void WeightedProxy::Route(std::optional<Backend> stable, std::optional<Backend> canary,
                          int canary_weight) {
  canary_weight = std::clamp(canary_weight, 0, 100);
  std::lock_guard lock(mu_);
  auto same = [](const std::optional<Backend>& a, const std::optional<Backend>& b) {
    return a.has_value() == b.has_value() &&
           (!a || (a->version == b->version && a->port == b->port));
  };
  const std::array<int, 2> weights = {100 - canary_weight, canary_weight};
  if (same(backends_[kStable], stable) && same(backends_[kCanary], canary) && weights == weights_) {
    return;
  }
  backends_ = {std::move(stable), std::move(canary)};
  weights_ = weights;
  current_ = {0, 0};
  std::erase_if(samples_, [&](const auto& entry) {
    return std::none_of(backends_.begin(), backends_.end(), [&](const auto& backend) {
      return backend && backend->version == entry.first;
    });
  });
}

std::optional<WeightedProxy::Backend> WeightedProxy::Pick() {
  std::lock_guard lock(mu_);
  if (!backends_[kCanary]) return backends_[kStable];
  if (!backends_[kStable]) return backends_[kCanary];
  // Smooth weighted round-robin (as in nginx): each turn every slot gains its weight, the
  // richest is picked and pays the total. Over any cycle of 100 turns each slot gets its weight.
  int best = kStable;
  for (int slot : {kStable, kCanary}) {
    current_[slot] += weights_[slot];
    if (current_[slot] > current_[best]) best = slot;
  }
  current_[best] -= weights_[kStable] + weights_[kCanary];
  return backends_[best];
}

void WeightedProxy::Handle(const httplib::Request& request, httplib::Response& response) {
  const auto backend = Pick();
  if (!backend) {
    response.status = 503;
    response.set_content("no version of this service is deployed\n", "text/plain");
    return;
  }
  httplib::Request upstream;
  upstream.method = request.method;
  upstream.path = request.target.empty() ? request.path : request.target;
  for (const auto& [name, value] : request.headers) {
    if (Forwardable(name)) upstream.headers.emplace(name, value);
  }
  upstream.headers.emplace("X-Forwarded-For", request.remote_addr);
  upstream.body = request.body;

  httplib::Client client("127.0.0.1", backend->port);
  client.set_tcp_nodelay(true);
  client.set_connection_timeout(std::chrono::seconds(2));
  client.set_read_timeout(std::chrono::seconds(60));
  client.set_write_timeout(std::chrono::seconds(60));
  const auto start = std::chrono::steady_clock::now();
  auto answer = client.send(upstream);
  const double latency_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  if (!answer) {
    Record(backend->version, latency_ms, true);
    response.status = 502;
    response.set_content("version " + backend->version +
                             " did not answer: " + httplib::to_string(answer.error()) + "\n",
                         "text/plain");
  } else {
    Record(backend->version, latency_ms, answer->status >= 500);
    response.status = answer->status;
    for (const auto& [name, value] : answer->headers) {
      if (Forwardable(name)) response.headers.emplace(name, value);
    }
    response.body = std::move(answer->body);
  }
  response.set_header("X-Shipd-Version", backend->version);
}

void WeightedProxy::Record(const std::string& version, double latency_ms, bool error) {
  const int64_t now = clock_.NowMs();
  std::lock_guard lock(mu_);
  // A request that finished after its version stopped being routed is not counted.
  if (std::none_of(backends_.begin(), backends_.end(),
                   [&](const auto& backend) { return backend && backend->version == version; })) {
    return;
  }
  auto& samples = samples_[version];
  while (!samples.empty() && (samples.front().at_ms <= now - window_.count() ||
                              samples.size() >= kMaxSamplesPerVersion)) {
    samples.pop_front();
  }
  samples.push_back({now, latency_ms, error});
}

TrafficCounters WeightedProxy::CountersLocked(const std::string& version, int64_t now_ms) const {
  TrafficCounters counters;
  auto it = samples_.find(version);
  if (it == samples_.end()) return counters;
  auto& samples = it->second;
  while (!samples.empty() && samples.front().at_ms <= now_ms - window_.count()) {
    samples.pop_front();
  }
  std::vector<double> latencies;
  latencies.reserve(samples.size());
  for (const Sample& sample : samples) {
    ++counters.requests;
    if (sample.error) ++counters.errors;
    latencies.push_back(sample.latency_ms);
  }
  std::sort(latencies.begin(), latencies.end());
  counters.latency_p50_ms = Percentile(latencies, 0.50);
  counters.latency_p99_ms = Percentile(latencies, 0.99);
  return counters;
}

TrafficReport WeightedProxy::Traffic() const {
  const int64_t now = clock_.NowMs();
  std::lock_guard lock(mu_);
  TrafficReport report;
  report.window = window_;
  if (backends_[kStable]) {
    report.stable_version = backends_[kStable]->version;
    report.stable = CountersLocked(report.stable_version, now);
  }
  if (backends_[kCanary]) {
    report.canary_version = backends_[kCanary]->version;
    report.canary = CountersLocked(report.canary_version, now);
  }
  return report;
}

}  // namespace shipd
