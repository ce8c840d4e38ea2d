// shipd::Result<T> — the one error model. Expected failures (bad input, I/O, conflicts) are values,
// never exceptions across module boundaries. An Error carries a domain code that maps to an HTTP
// status and a CLI exit code, and a message that gains context as it travels up.
// Value types; not synchronised.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace shipd {

enum class ErrorCode {
  kBadRequest,        // malformed input (syntax): HTTP 400
  kInvalid,           // well-formed but invalid (bad semver, unknown key): HTTP 422
  kUnauthenticated,   // HTTP 401
  kPermissionDenied,  // HTTP 403
  kNotFound,          // HTTP 404
  kConflict,          // HTTP 409
  kTooLarge,          // HTTP 413
  kUnavailable,       // a dependency is down: HTTP 503
  kIo,                // disk or network failure: HTTP 500
  kInternal,          // a bug: HTTP 500
};

// Stable snake_case name used in the REST error document ("not_found", ...).
std::string_view ErrorCodeName(ErrorCode code);

class [[nodiscard]] Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns the same error with "context: " in front of the message.
  Error WithContext(std::string_view context) const& {
    return Error(code_, std::string(context) + ": " + message_);
  }
  Error WithContext(std::string_view context) && {
    message_.insert(0, std::string(context) + ": ");
    return std::move(*this);
  }

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : data_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(data_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(data_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(data_));
  }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(data_);
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> data_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error)
      : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status Ok() { return Status(); }

}  // namespace shipd

// Propagates an error from an expression returning Status or Result<T>.
#define SHIPD_RETURN_IF_ERROR(expr)                        \
  do {                                                     \
    auto shipd_status_ = (expr);                           \
    if (!shipd_status_.ok()) return shipd_status_.error(); \
  } while (false)
