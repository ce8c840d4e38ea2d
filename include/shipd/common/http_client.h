// HttpClient: sends one HTTP request and waits for the answer — the injected seam through which
// checks (and webhook drivers) talk HTTP. Implementations are thread-safe; Send() blocks.
// MakeHttplibHttpClient() is the real one (cpp-httplib, one connection per request).
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "shipd/common/result.h"

namespace shipd {

// Orders header names case-insensitively, as HTTP compares them.
struct HeaderNameLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](unsigned char x, unsigned char y) { return std::tolower(x) < std::tolower(y); });
  }
};
using HttpHeaders = std::multimap<std::string, std::string, HeaderNameLess>;

struct HttpRequest {
  std::string method = "GET";
  // Absolute http:// or https:// URL, already percent-encoded where needed (sent as given).
  // user:password@ in the authority becomes Basic authentication.
  std::string url;
  HttpHeaders headers;
  std::string body;  // sent with the Content-Type header, if any
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};  // connect, and each read/write
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
  std::chrono::milliseconds latency{0};  // from sending the request to the whole answer read

  // The first value of the header, or nullptr.
  const std::string* Header(std::string_view name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? nullptr : &it->second;
  }
  // Whether sending the request again may succeed: 5xx, 408 and 429.
  bool Retryable() const { return status >= 500 || status == 408 || status == 429; }
  // Retry-After in seconds (the HTTP-date form is ignored); nullopt when absent or unreadable.
  std::optional<std::chrono::milliseconds> RetryAfter() const;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // Any HTTP status is a response. Errors: kInvalid for a URL that cannot be sent; kUnavailable
  // for transport failures (refused, timed out, TLS), naming the method and URL. Redirects are
  // not followed.
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

// TCP_NODELAY; certificates are verified against the system's CA store.
std::unique_ptr<HttpClient> MakeHttplibHttpClient();

}  // namespace shipd
