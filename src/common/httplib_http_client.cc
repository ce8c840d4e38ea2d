// HttplibHttpClient: one httplib::Client per request, so Send() shares no state between threads
// (checks send a request every few seconds; connection reuse is not worth the locking).

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <chrono>

#include "shipd/common/http_client.h"

namespace shipd {
namespace {

using Steady = std::chrono::steady_clock;

struct ParsedUrl {
  std::string origin;  // scheme://host[:port], what httplib::Client takes
  std::string target;  // path and query, "/" at least
  std::string user;
  std::string password;
  bool has_credentials = false;
};

Result<ParsedUrl> ParseUrl(const std::string& url) {
  auto invalid = [&](std::string_view why) {
    return Error(ErrorCode::kInvalid, "invalid URL \"" + url + "\": " + std::string(why));
  };
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return invalid("expected http:// or https://");
  std::string scheme = url.substr(0, scheme_end);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "http" && scheme != "https") return invalid("expected http:// or https://");
  const size_t authority_start = scheme_end + 3;
  size_t authority_end = url.find_first_of("/?#", authority_start);
  if (authority_end == std::string::npos) authority_end = url.size();
  std::string authority = url.substr(authority_start, authority_end - authority_start);
  ParsedUrl parsed;
  if (const size_t at = authority.rfind('@'); at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    parsed.user = userinfo.substr(0, colon);
    if (colon != std::string::npos) parsed.password = userinfo.substr(colon + 1);
    parsed.has_credentials = true;
    authority.erase(0, at + 1);
  }
  if (authority.empty() || authority.front() == ':') return invalid("no host");
  if (authority.find_first_of(" \t\r\n") != std::string::npos) return invalid("space in host");
  parsed.origin = scheme + "://" + authority;
  std::string target = url.substr(authority_end);
  if (const size_t hash = target.find('#'); hash != std::string::npos) target.erase(hash);
  if (target.empty() || target.front() == '?') target.insert(0, "/");
  if (target.find_first_of(" \t\r\n") != std::string::npos) {
    return invalid("unencoded whitespace in path or query");
  }
  parsed.target = std::move(target);
  return parsed;
}

std::string Describe(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect (refused or unreachable)";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "no complete answer (connection closed or read timed out)";
    case httplib::Error::Write:
      return "sending the request failed";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load CA certificates";
    case httplib::Error::SSLServerVerification:
      return "TLS certificate verification failed";
    default:
      return "transport error " + httplib::to_string(error);
  }
}

template <typename Rep, typename Period>
void SetTimeouts(httplib::Client& client, std::chrono::duration<Rep, Period> timeout) {
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
}

class HttplibHttpClient final : public HttpClient {
 public:
  Result<HttpResponse> Send(const HttpRequest& request) override {
    Result<ParsedUrl> url = ParseUrl(request.url);
    if (!url.ok()) return url.error();
    const std::string what = request.method + " " + request.url;

    httplib::Client client(url->origin);
    if (!client.is_valid()) {
      return Error(ErrorCode::kInvalid, what + ": cannot create a client for " + url->origin);
    }
    client.set_tcp_nodelay(true);
    client.set_url_encode(false);
    client.set_follow_location(false);
    client.set_keep_alive(false);
    SetTimeouts(client, std::max(request.timeout, std::chrono::milliseconds(1)));
    if (url->has_credentials) client.set_basic_auth(url->user, url->password);

    httplib::Request req;
    req.method = request.method;
    req.path = url->target;
    for (const auto& [name, value] : request.headers) req.headers.emplace(name, value);
    req.body = request.body;

    const auto start = Steady::now();
    httplib::Result answer = client.send(req);
    const auto latency =
        std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - start);
    if (!answer) {
      return Error(ErrorCode::kUnavailable, what + ": " + Describe(answer.error()) + " after " +
                                                std::to_string(latency.count()) + " ms");
    }
    HttpResponse response;
    response.status = answer->status;
    for (const auto& [name, value] : answer->headers) response.headers.emplace(name, value);
    response.body = std::move(answer->body);
    response.latency = latency;
    return response;
  }
};

}  // namespace

std::unique_ptr<HttpClient> MakeHttplibHttpClient() {
  return std::make_unique<HttplibHttpClient>();
}

}  // namespace shipd
