#include "shipd/common/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <regex>
#include <string>

namespace shipd {
namespace {

bool LooksLikeInteger(const std::string& s) {
  static const std::regex kInt(R"(^[-+]?[0-9]+$)");
  return std::regex_match(s, kInt);
}

bool LooksLikeFloat(const std::string& s) {
  static const std::regex kFloat(R"(^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$)");
  return std::regex_match(s, kFloat);
}

nlohmann::json Convert(const YAML::Node& node, const YamlToJsonOptions& options) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(Convert(item, options));
      return out;
    }
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& item : node) {
        out[item.first.as<std::string>()] = Convert(item.second, options);
      }
      return out;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted: always a string
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (text == "null" || text == "Null" || text == "NULL" || text == "~") return nullptr;
  if (!options.numbers_as_strings) {
    if (LooksLikeInteger(text)) {
      try {
        return std::stoll(text);
      } catch (const std::exception&) {
        return text;
      }
    }
    if (LooksLikeFloat(text)) return std::stod(text);
  }
  return text;
}

}  // namespace

Result<nlohmann::json> YamlToJson(std::string_view text, YamlToJsonOptions options) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return Convert(root, options);
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kBadRequest, "malformed YAML: line " + std::to_string(e.mark.line + 1) +
                                             ", column " + std::to_string(e.mark.column + 1) +
                                             ": " + e.msg);
  }
}

Result<nlohmann::json> ParseJsonOrYaml(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) {
    try {
      return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      return Error(ErrorCode::kBadRequest, std::string("malformed JSON: ") + e.what());
    }
  }
  return YamlToJson(text);
}

}  // namespace shipd
