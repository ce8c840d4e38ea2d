// FakeHttpClient: records every request and answers with `answer` (200 unless told otherwise);
// tests wait for requests on a condition, never by sleeping. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "shipd/common/http_client.h"

namespace shipd {

class FakeHttpClient final : public HttpClient {
 public:
  using Answer = std::function<Result<HttpResponse>(const HttpRequest&, size_t number)>;

  static Result<HttpResponse> Status(int status) {
    HttpResponse response;
    response.status = status;
    return response;
  }

  void set_answer(Answer answer) {
    std::lock_guard lock(mu_);
    answer_ = std::move(answer);
  }

  Result<HttpResponse> Send(const HttpRequest& request) override {
    Answer answer;
    size_t number = 0;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
      number = requests_.size();
      answer = answer_;
    }
    changed_.notify_all();
    return answer ? answer(request, number) : Status(200);
  }

  std::vector<HttpRequest> Requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  bool WaitForRequests(size_t count,
                       std::chrono::milliseconds within = std::chrono::seconds(10)) const {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, within, [&] { return requests_.size() >= count; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  Answer answer_;
  std::vector<HttpRequest> requests_;
};

}  // namespace shipd
