#include "shipd/common/http_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/loopback_server.h"

namespace shipd {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

using shipd::testing::LoopbackServer;

// Blocks handlers until the test opens it.
class Gate {
 public:
  void Open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST(HttplibHttpClient, ReturnsStatusHeadersAndBody) {
  LoopbackServer server([](httplib::Server& s) {
    s.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("X-Answer", "42");
      res.set_content("hi there", "text/plain");
    });
  });
  auto client = MakeHttplibHttpClient();
  HttpRequest request;
  request.url = server.Url("/hello");
  auto response = client->Send(request);
  ASSERT_TRUE(response.ok()) << response.error().message();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hi there");
  ASSERT_NE(response->Header("x-answer"), nullptr);  // names compare case-insensitively
  EXPECT_EQ(*response->Header("x-answer"), "42");
  EXPECT_EQ(response->Header("X-Missing"), nullptr);
  EXPECT_GE(response->latency.count(), 0);
}

TEST(HttplibHttpClient, SendsMethodHeadersAndBody) {
  LoopbackServer server([](httplib::Server& s) {
    s.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.method + " " + req.get_header_value("X-Token") + " " + req.body,
                      "text/plain");
    });
  });
  auto client = MakeHttplibHttpClient();
  HttpRequest request;
  request.method = "POST";
  request.url = server.Url("/echo");
  request.headers.emplace("X-Token", "secret");
  request.headers.emplace("Content-Type", "application/json");
  request.body = R"({"a":1})";
  auto response = client->Send(request);
  ASSERT_TRUE(response.ok()) << response.error().message();
  EXPECT_EQ(response->body, R"(POST secret {"a":1})");
}

TEST(HttplibHttpClient, ErrorStatusesAreResponsesAndRedirectsAreNotFollowed) {
  LoopbackServer server([](httplib::Server& s) {
    s.Get("/down", [](const httplib::Request&, httplib::Response& res) { res.status = 503; });
    s.Get("/moved",
          [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/down"); });
  });
  auto client = MakeHttplibHttpClient();
  HttpRequest request;
  request.url = server.Url("/down");
  auto down = client->Send(request);
  ASSERT_TRUE(down.ok()) << down.error().message();
  EXPECT_EQ(down->status, 503);
  request.url = server.Url("/moved");
  auto moved = client->Send(request);
  ASSERT_TRUE(moved.ok()) << moved.error().message();
  EXPECT_EQ(moved->status, 302);
}

TEST(HttplibHttpClient, SendsTheQueryStringAsGiven) {
  LoopbackServer server([](httplib::Server& s) {
    s.Get("/q", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.get_param_value("query"), "text/plain");
    });
  });
  auto client = MakeHttplibHttpClient();
  HttpRequest request;
  request.url = server.Url("/q?query=a%2Bb%20c%7B%7D#fragment");
  auto response = client->Send(request);
  ASSERT_TRUE(response.ok()) << response.error().message();
  EXPECT_EQ(response->body, "a+b c{}");
}

TEST(HttplibHttpClient, UserInfoBecomesBasicAuthentication) {
  LoopbackServer server([](httplib::Server& s) {
    s.Get("/", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.get_header_value("Authorization"), "text/plain");
    });
  });
  auto client = MakeHttplibHttpClient();
  HttpRequest request;
  request.url = server.Url("");
  request.url.insert(std::string("http://").size(), "user:pass@");
  auto response = client->Send(request);
  ASSERT_TRUE(response.ok()) << response.error().message();
  EXPECT_EQ(response->body, "Basic dXNlcjpwYXNz");
}

TEST(HttplibHttpClient, RefusedConnectionIsUnavailableAndNamesTheUrl) {
  std::string url;
  {
    LoopbackServer server([](httplib::Server&) {});
    url = server.Url("/healthz");
  }  // the port is closed again
  auto client = MakeHttplibHttpClient();
  HttpRequest request;
  request.url = url;
  auto response = client->Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(response.error().message(), HasSubstr("GET " + url));
}

TEST(HttplibHttpClient, SlowAnswerTimesOut) {
  Gate gate;
  LoopbackServer server([&gate](httplib::Server& s) {
    s.Get("/slow", [&gate](const httplib::Request&, httplib::Response& res) {
      gate.Wait();
      res.set_content("late", "text/plain");
    });
  });
  auto client = MakeHttplibHttpClient();
  HttpRequest request;
  request.url = server.Url("/slow");
  request.timeout = milliseconds(100);
  auto response = client->Send(request);
  gate.Open();
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(response.error().message(), HasSubstr(request.url));
}

TEST(HttplibHttpClient, MalformedUrlsAreInvalid) {
  auto client = MakeHttplibHttpClient();
  for (const std::string url :
       {"", "127.0.0.1:80/x", "ftp://host/x", "http://", "http://:80/", "http://host/a b"}) {
    HttpRequest request;
    request.url = url;
    auto response = client->Send(request);
    ASSERT_FALSE(response.ok()) << url;
    EXPECT_EQ(response.error().code(), ErrorCode::kInvalid) << url;
  }
}

TEST(HttplibHttpClient, ConcurrentSendsFromManyThreads) {
  LoopbackServer server([](httplib::Server& s) {
    s.Get(R"(/n/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.matches[1].str(), "text/plain");
    });
  });
  auto client = MakeHttplibHttpClient();
  constexpr int kThreads = 4;
  std::vector<int> correct(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        HttpRequest request;
        const std::string n = std::to_string(t * 100 + i);
        request.url = server.Url("/n/" + n);
        auto response = client->Send(request);
        if (response.ok() && response->body == n) ++correct[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int count : correct) EXPECT_EQ(count, 10);
}

}  // namespace
}  // namespace shipd
