// {{variable}} rendering and the SHIP_* environment.

#include "shipd/common/template.h"

#include <cctype>

namespace shipd {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

std::string KnownNames(const std::map<std::string, std::string>& variables) {
  if (variables.empty()) return "no variables are defined";
  std::string names = "known: ";
  for (auto it = variables.begin(); it != variables.end(); ++it) {
    if (it != variables.begin()) names += ", ";
    names += it->first;
  }
  return names;
}

}  // namespace

Result<std::string> RenderTemplate(std::string_view text,
                                   const std::map<std::string, std::string>& variables) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    out.append(text.substr(pos, open - pos));
    const size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return Error(ErrorCode::kInvalid, "unterminated \"{{\" at offset " + std::to_string(open) +
                                            " (variables are written {{name}})");
    }
    const std::string_view name = Trim(text.substr(open + 2, close - open - 2));
    if (name.empty()) {
      return Error(ErrorCode::kInvalid,
                   "empty variable name \"{{}}\" at offset " + std::to_string(open));
    }
    const auto it = variables.find(std::string(name));
    if (it == variables.end()) {
      return Error(ErrorCode::kInvalid, "unknown template variable \"" + std::string(name) +
                                            "\" (" + KnownNames(variables) + ")");
    }
    out.append(it->second);
    pos = close + 2;
  }
  return out;
}

std::map<std::string, std::string> ShipEnvironment(
    const std::map<std::string, std::string>& variables) {
  std::map<std::string, std::string> env;
  for (const auto& [name, value] : variables) {
    std::string key = "SHIP_";
    for (char c : name) {
      const auto u = static_cast<unsigned char>(c);
      key += std::isalnum(u) != 0 ? static_cast<char>(std::toupper(u)) : '_';
    }
    env[key] = value;
  }
  return env;
}

}  // namespace shipd
