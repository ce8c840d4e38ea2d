// demo-service: the small HTTP service the demo and the driver tests deploy. It answers with its
// name and version, can call a downstream service (web -> orders -> billing), and injects errors
// and latency deterministically (every k-th request, never at random) so tests are stable.
//
//   demo-service --name orders --version 3.2.0 --port 8080 [--host 127.0.0.1]
//                [--error-rate 0..1] [--latency-ms N] [--fail-healthz]
//
// --port 0 (or no --port and no PORT variable) picks a free port; the bound address is printed
// as "listening on HOST:PORT". Endpoints: / (JSON {service, version}), /healthz, /metrics
// (Prometheus text) and /call?next=URL. Only / and /call count towards --error-rate.
#include <httplib.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

struct Options {
  std::string name = "demo";
  std::string version = "0.0.0";
  std::string host = "127.0.0.1";
  int port = 0;
  double error_rate = 0;
  int latency_ms = 0;
  bool fail_healthz = false;
};

constexpr std::string_view kUsage =
    "usage: demo-service --name NAME --version VERSION [--port N] [--host ADDR]\n"
    "                    [--error-rate 0..1] [--latency-ms N] [--fail-healthz]\n";

std::optional<Options> ParseArgs(int argc, char** argv, std::string& error) {
  Options options;
  if (const char* port = std::getenv("PORT")) options.port = std::atoi(port);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 < argc) return std::string(argv[++i]);
      error = arg + " needs a value";
      return std::nullopt;
    };
    try {
      if (arg == "--fail-healthz") {
        options.fail_healthz = true;
      } else if (arg == "--name") {
        auto v = value();
        if (!v) return std::nullopt;
        options.name = *v;
      } else if (arg == "--version") {
        auto v = value();
        if (!v) return std::nullopt;
        options.version = *v;
      } else if (arg == "--host") {
        auto v = value();
        if (!v) return std::nullopt;
        options.host = *v;
      } else if (arg == "--port") {
        auto v = value();
        if (!v) return std::nullopt;
        options.port = std::stoi(*v);
      } else if (arg == "--error-rate") {
        auto v = value();
        if (!v) return std::nullopt;
        options.error_rate = std::stod(*v);
      } else if (arg == "--latency-ms") {
        auto v = value();
        if (!v) return std::nullopt;
        options.latency_ms = std::stoi(*v);
      } else if (arg == "--help" || arg == "-h") {
        std::cout << kUsage;
        std::exit(0);
      } else {
        error = "unknown argument " + arg;
        return std::nullopt;
      }
    } catch (const std::exception&) {
      error = arg + ": not a number";
      return std::nullopt;
    }
  }
  if (options.error_rate < 0 || options.error_rate > 1) {
    error = "--error-rate must be between 0 and 1";
    return std::nullopt;
  }
  if (options.port < 0 || options.port > 65535 || options.latency_ms < 0) {
    error = "--port and --latency-ms must be non-negative (port at most 65535)";
    return std::nullopt;
  }
  return options;
}

std::string JsonEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

// Counters for /metrics and the deterministic error schedule. Thread-safe.
class Stats {
 public:
  explicit Stats(double error_rate) : error_rate_(error_rate) {}

  // Request n (1-based) fails when floor(n * rate) steps up: exactly `rate` of every run of
  // requests, evenly spread (0.1 fails the 10th, 20th, ...; 1 fails all; 0 none).
  bool NextShouldFail() {
    const int64_t n = ++business_requests_;
    const auto before = static_cast<int64_t>(std::floor(static_cast<double>(n - 1) * error_rate_));
    const auto now = static_cast<int64_t>(std::floor(static_cast<double>(n) * error_rate_));
    return now > before;
  }

  void Record(const std::string& path, int code, double seconds) {
    std::lock_guard lock(mu_);
    ++requests_[{path, code}];
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      if (seconds <= kBuckets[i]) ++bucket_counts_[i];
    }
    ++latency_count_;
    latency_sum_ += seconds;
  }

  std::string Render(std::string_view service, std::string_view version) const {
    std::lock_guard lock(mu_);
    const std::string labels =
        "service=\"" + std::string(service) + "\",version=\"" + std::string(version) + "\"";
    std::ostringstream out;
    out << "# HELP requests_total Requests answered, by path and status code.\n"
        << "# TYPE requests_total counter\n";
    for (const auto& [key, count] : requests_) {
      out << "requests_total{" << labels << ",path=\"" << key.first << "\",code=\"" << key.second
          << "\"} " << count << "\n";
    }
    out << "# HELP http_request_seconds Time to answer a request.\n"
        << "# TYPE http_request_seconds histogram\n";
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      out << "http_request_seconds_bucket{" << labels << ",le=\"" << kBuckets[i] << "\"} "
          << bucket_counts_[i] << "\n";
    }
    out << "http_request_seconds_bucket{" << labels << ",le=\"+Inf\"} " << latency_count_ << "\n"
        << "http_request_seconds_sum{" << labels << "} " << latency_sum_ << "\n"
        << "http_request_seconds_count{" << labels << "} " << latency_count_ << "\n";
    return out.str();
  }

 private:
  static constexpr std::array<double, 8> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};
  const double error_rate_;
  std::atomic<int64_t> business_requests_{0};
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::array<int64_t, kBuckets.size()> bucket_counts_{};
  int64_t latency_count_ = 0;
  double latency_sum_ = 0;
};

// Splits "http://host:port/path?query" into the client base and the path with its query.
bool SplitUrl(const std::string& url, std::string& base, std::string& path) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  const auto path_start = url.find('/', scheme_end + 3);
  base = url.substr(0, path_start);
  path = path_start == std::string::npos ? "/" : url.substr(path_start);
  return base.size() > scheme_end + 3;
}

}  // namespace

int main(int argc, char** argv) {
  std::string error;
  auto parsed = ParseArgs(argc, argv, error);
  if (!parsed) {
    std::cerr << "demo-service: " << error << "\n" << kUsage;
    return 2;
  }
  const Options options = *parsed;
  Stats stats(options.error_rate);
  httplib::Server server;
  server.set_tcp_nodelay(true);  // else kept-alive clients wait for a delayed ACK on each answer

  const std::string identity = "\"service\":\"" + JsonEscape(options.name) + "\",\"version\":\"" +
                               JsonEscape(options.version) + "\"";
  auto delay = [&] {
    if (options.latency_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options.latency_ms));
    }
  };
  auto injected_error = [&](httplib::Response& res) {
    res.status = 500;
    res.set_content("{" + identity + ",\"error\":\"injected failure\"}", "application/json");
  };

  // Wraps a business route: times it and counts its answer by status code.
  auto counted = [&](std::string path, auto handler) {
    return [&stats, &delay, path, handler](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      delay();
      handler(req, res);
      // httplib fills in 200 after the handler when it set no status.
      stats.Record(path, res.status == -1 ? 200 : res.status,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    };
  };

  server.Get("/", counted("/", [&](const httplib::Request&, httplib::Response& res) {
               if (stats.NextShouldFail()) return injected_error(res);
               res.set_content("{" + identity + "}", "application/json");
             }));
  server.Get(
      "/call", counted("/call", [&](const httplib::Request& req, httplib::Response& res) {
        if (stats.NextShouldFail()) return injected_error(res);
        std::string base;
        std::string path;
        if (!req.has_param("next") || !SplitUrl(req.get_param_value("next"), base, path)) {
          res.status = 400;
          res.set_content("{" + identity + ",\"error\":\"next must be an absolute http URL\"}",
                          "application/json");
          return;
        }
        httplib::Client client(base);
        client.set_connection_timeout(std::chrono::seconds(2));
        client.set_read_timeout(std::chrono::seconds(10));
        auto downstream = client.Get(path.c_str());
        if (!downstream) {
          res.status = 502;
          res.set_content("{" + identity + ",\"error\":\"" +
                              JsonEscape(httplib::to_string(downstream.error())) + "\"}",
                          "application/json");
          return;
        }
        const bool json =
            downstream->get_header_value("Content-Type").find("json") != std::string::npos;
        const std::string body = json && !downstream->body.empty()
                                     ? downstream->body
                                     : "\"" + JsonEscape(downstream->body) + "\"";
        res.status = downstream->status >= 200 && downstream->status < 300 ? 200 : 502;
        res.set_content("{" + identity + ",\"downstream_status\":" +
                            std::to_string(downstream->status) + ",\"downstream\":" + body + "}",
                        "application/json");
      }));
  server.Get("/healthz", [&](const httplib::Request&, httplib::Response& res) {
    if (options.fail_healthz) {
      res.status = 503;
      res.set_content("unhealthy\n", "text/plain");
    } else {
      res.set_content("ok\n", "text/plain");
    }
  });
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(stats.Render(options.name, options.version),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  server.set_post_routing_handler([&](const httplib::Request&, httplib::Response& res) {
    res.set_header("X-Service-Version", options.version);
  });

  int port = options.port;
  if (port == 0) {
    port = server.bind_to_any_port(options.host);
  } else if (!server.bind_to_port(options.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    std::cerr << "demo-service: cannot listen on " << options.host << ":" << options.port << "\n";
    return 1;
  }
  std::cout << "demo-service " << options.name << " " << options.version << " listening on "
            << options.host << ":" << port << std::endl;
  return server.listen_after_bind() ? 0 : 1;
}
