#include "client.h"

#include <httplib.h>

namespace shipd::cli {

ApiClient::ApiClient(std::string server, std::string token)
    : server_(std::move(server)), token_(std::move(token)) {
  while (!server_.empty() && server_.back() == '/') server_.pop_back();
  client_ = std::make_unique<httplib::Client>(server_);
  client_->set_keep_alive(true);
  client_->set_connection_timeout(5, 0);
  client_->set_read_timeout(60, 0);
  if (!token_.empty()) client_->set_bearer_token_auth(token_.c_str());
}

ApiClient::~ApiClient() = default;

Result<ApiResponse> ApiClient::Get(const std::string& path) {
  auto result = client_->Get(path);
  return Convert(&result);
}

Result<ApiResponse> ApiClient::Post(const std::string& path, const std::string& body,
                                    const std::string& content_type) {
  auto result = client_->Post(path, body, content_type);
  return Convert(&result);
}

Result<ApiResponse> ApiClient::Delete(const std::string& path) {
  auto result = client_->Delete(path);
  return Convert(&result);
}

Result<ApiResponse> ApiClient::Convert(const void* opaque) {
  const auto& result = *static_cast<const httplib::Result*>(opaque);
  if (!result) {
    return Error(ErrorCode::kUnavailable, "cannot reach shipd at " + server_ + ": " +
                                              httplib::to_string(result.error()) +
                                              " (is the daemon running? set SHIP_SERVER)");
  }
  ApiResponse response;
  response.status = result->status;
  response.body = nlohmann::json::parse(result->body, nullptr, false);
  if (response.body.is_discarded()) response.body = result->body;
  return response;
}

std::string ErrorMessage(const ApiResponse& response) {
  const auto& body = response.body;
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    return body["error"].value("message", "HTTP " + std::to_string(response.status));
  }
  if (body.is_string())
    return "HTTP " + std::to_string(response.status) + ": " + body.get<std::string>();
  return "HTTP " + std::to_string(response.status) + ": " + body.dump();
}

}  // namespace shipd::cli
