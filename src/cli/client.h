// ApiClient: shipctl's REST client. One keep-alive connection; not thread-safe.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "shipd/common/result.h"

namespace httplib {
class Client;
}

namespace shipd::cli {

struct ApiResponse {
  int status = 0;
  nlohmann::json body;  // parsed JSON, or a string when the server sent something else
};

class ApiClient {
 public:
  ApiClient(std::string server, std::string token);
  ~ApiClient();

  // Transport failures are kUnavailable with the server address; any HTTP status is a response.
  Result<ApiResponse> Get(const std::string& path);
  Result<ApiResponse> Post(const std::string& path, const std::string& body,
                           const std::string& content_type = "application/json");
  Result<ApiResponse> Delete(const std::string& path);

  const std::string& server() const { return server_; }

 private:
  Result<ApiResponse> Convert(const void* result);

  std::string server_;
  std::string token_;
  std::unique_ptr<httplib::Client> client_;
};

// The message of an error document ({"error":{"message":...}}), or the body as text.
std::string ErrorMessage(const ApiResponse& response);

}  // namespace shipd::cli
