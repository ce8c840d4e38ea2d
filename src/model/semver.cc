#include "shipd/model/semver.h"

#include <algorithm>
#include <cstddef>
#include <limits>

namespace shipd {
namespace {

// Wraps text in double quotes for an error message, escaping quotes, backslashes and bytes that
// are not printable ASCII so that a hostile or binary input cannot garble logs.
std::string Quote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsIdentifierChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

bool IsAllDigits(std::string_view s) {
  for (char c : s) {
    if (!IsDigit(c)) {
      return false;
    }
  }
  return !s.empty();
}

bool IsWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

Error Invalid(std::string_view text, std::string_view reason) {
  return Error(ErrorCode::kInvalid, "invalid version " + Quote(text) + ": " + std::string(reason));
}

// Parses MAJOR, MINOR or PATCH; returns the reason on failure.
Result<uint64_t> ParseNumber(std::string_view name, std::string_view digits) {
  if (digits.empty()) {
    return Error(ErrorCode::kInvalid, std::string(name) + " version is empty");
  }
  if (!IsAllDigits(digits)) {
    return Error(ErrorCode::kInvalid,
                 std::string(name) + " version " + Quote(digits) + " is not a number");
  }
  if (digits.size() > 1 && digits[0] == '0') {
    return Error(ErrorCode::kInvalid,
                 "numeric identifier " + Quote(digits) + " has a leading zero");
  }
  uint64_t value = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (char c : digits) {
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (kMax - digit) / 10) {
      return Error(ErrorCode::kInvalid,
                   "numeric identifier " + Quote(digits) + " does not fit in 64 bits");
    }
    value = value * 10 + digit;
  }
  return value;
}

// Splits a dot-separated prerelease or build list; returns the reason on failure.
Result<std::vector<std::string>> ParseIdentifiers(std::string_view text, bool is_prerelease) {
  const std::string kind = is_prerelease ? "prerelease" : "build";
  std::vector<std::string> ids;
  for (std::string_view id : Split(text, '.')) {
    if (id.empty()) {
      return Error(ErrorCode::kInvalid, "empty " + kind + " identifier");
    }
    for (char c : id) {
      if (!IsIdentifierChar(c)) {
        return Error(ErrorCode::kInvalid, kind + " identifier " + Quote(id) + " contains " +
                                              Quote(std::string_view(&c, 1)) +
                                              " (allowed: 0-9 A-Z a-z -)");
      }
    }
    // Build identifiers may have leading zeros; numeric prerelease identifiers may not.
    if (is_prerelease && id.size() > 1 && id[0] == '0' && IsAllDigits(id)) {
      return Error(ErrorCode::kInvalid, "numeric identifier " + Quote(id) + " has a leading zero");
    }
    ids.emplace_back(id);
  }
  return ids;
}

// Numeric identifiers have no leading zeros, so a longer one is larger; this avoids any bound
// on the size of numeric prerelease identifiers.
std::strong_ordering CompareNumeric(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) {
    return a.size() <=> b.size();
  }
  return a.compare(b) <=> 0;
}

std::strong_ordering ComparePrereleaseIds(const std::string& a, const std::string& b) {
  const bool a_numeric = IsAllDigits(a);
  const bool b_numeric = IsAllDigits(b);
  if (a_numeric && b_numeric) {
    return CompareNumeric(a, b);
  }
  if (a_numeric) {
    return std::strong_ordering::less;
  }
  if (b_numeric) {
    return std::strong_ordering::greater;
  }
  return a.compare(b) <=> 0;
}

std::string Join(const std::vector<std::string>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) {
      out += '.';
    }
    out += ids[i];
  }
  return out;
}

}  // namespace

Result<Semver> Semver::Parse(std::string_view text) {
  if (text.empty()) {
    return Invalid(text, "empty string");
  }
  for (char c : text) {
    if (IsWhitespace(c)) {
      return Invalid(text, "contains whitespace");
    }
  }
  std::string_view rest = text;
  if (rest[0] == 'v' || rest[0] == 'V') {
    rest.remove_prefix(1);
  }

  std::string_view prerelease_text;
  std::string_view build_text;
  const size_t plus = rest.find('+');
  if (plus != std::string_view::npos) {
    build_text = rest.substr(plus + 1);
    rest = rest.substr(0, plus);
  }
  const size_t dash = rest.find('-');
  if (dash != std::string_view::npos) {
    prerelease_text = rest.substr(dash + 1);
    rest = rest.substr(0, dash);
  }

  Semver version;
  const std::vector<std::string_view> core = Split(rest, '.');
  if (core.size() != 3) {
    return Invalid(text, "expected MAJOR.MINOR.PATCH, got " + std::to_string(core.size()) +
                             (core.size() == 1 ? " component" : " components"));
  }
  static constexpr std::string_view kNames[] = {"major", "minor", "patch"};
  uint64_t* const fields[] = {&version.major_, &version.minor_, &version.patch_};
  for (size_t i = 0; i < 3; ++i) {
    auto number = ParseNumber(kNames[i], core[i]);
    if (!number.ok()) {
      return Invalid(text, number.error().message());
    }
    *fields[i] = *number;
  }
  if (dash != std::string_view::npos) {
    auto ids = ParseIdentifiers(prerelease_text, /*is_prerelease=*/true);
    if (!ids.ok()) {
      return Invalid(text, ids.error().message());
    }
    version.prerelease_ = std::move(ids).value();
  }
  if (plus != std::string_view::npos) {
    auto ids = ParseIdentifiers(build_text, /*is_prerelease=*/false);
    if (!ids.ok()) {
      return Invalid(text, ids.error().message());
    }
    version.build_ = std::move(ids).value();
  }
  return version;
}

std::string Semver::ToString() const {
  std::string out =
      std::to_string(major_) + "." + std::to_string(minor_) + "." + std::to_string(patch_);
  if (!prerelease_.empty()) {
    out += '-';
    out += Join(prerelease_);
  }
  if (!build_.empty()) {
    out += '+';
    out += Join(build_);
  }
  return out;
}

std::weak_ordering operator<=>(const Semver& a, const Semver& b) {
  if (auto c = a.major_ <=> b.major_; std::is_neq(c)) {
    return c;
  }
  if (auto c = a.minor_ <=> b.minor_; std::is_neq(c)) {
    return c;
  }
  if (auto c = a.patch_ <=> b.patch_; std::is_neq(c)) {
    return c;
  }
  // A release has higher precedence than any of its prereleases.
  if (a.prerelease_.empty() || b.prerelease_.empty()) {
    return a.prerelease_.empty() <=> b.prerelease_.empty();
  }
  const size_t common = std::min(a.prerelease_.size(), b.prerelease_.size());
  for (size_t i = 0; i < common; ++i) {
    if (auto c = ComparePrereleaseIds(a.prerelease_[i], b.prerelease_[i]); std::is_neq(c)) {
      return c;
    }
  }
  return a.prerelease_.size() <=> b.prerelease_.size();
}

}  // namespace shipd
