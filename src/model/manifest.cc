#include "shipd/model/manifest.h"

#include <algorithm>
#include <set>
#include <string>

#include "shipd/common/sha256.h"
#include "shipd/common/yaml_json.h"

namespace shipd {
namespace {

using nlohmann::json;

Error Invalid(std::string_view where, std::string_view what) {
  return Error(ErrorCode::kInvalid, std::string(where) + ": " + std::string(what));
}

Status CheckKeys(const json& object, std::string_view where,
                 std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string known;
      for (auto k : allowed) known += (known.empty() ? "" : ", ") + std::string(k);
      return Invalid(where, "unknown key \"" + key + "\" (known: " + known + ")");
    }
  }
  return Ok();
}

Result<std::string> OptionalString(const json& object, const char* key, std::string_view where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return Invalid(std::string(where) + key,
                   "must be a string, got " + std::string(it->type_name()));
  }
  return it->get<std::string>();
}

Result<std::string> RequiredString(const json& object, const char* key, std::string_view where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    return Invalid(std::string(where) + key, "is required");
  }
  return OptionalString(object, key, where);
}

// A spec arrives as a JSON object, or a string holding YAML or JSON; it is kept as compact JSON.
Result<std::string> NormalizeSpec(const json& spec, std::string_view where) {
  json document;
  if (spec.is_string()) {
    // OpenAPI documents keep YAML's numbers (minimum: 5) as numbers, unlike manifests.
    const std::string& text = spec.get<std::string>();
    const size_t first = text.find_first_not_of(" \t\r\n");
    const bool is_json = first != std::string::npos && (text[first] == '{' || text[first] == '[');
    auto parsed = is_json ? ParseJsonOrYaml(text) : YamlToJson(text, {.numbers_as_strings = false});
    if (!parsed.ok()) return Invalid(where, parsed.error().message());
    document = std::move(parsed).value();
  } else {
    document = spec;
  }
  if (!document.is_object()) return Invalid(where, "must be an OpenAPI document (an object)");
  if (!document.contains("openapi") && !document.contains("swagger")) {
    return Invalid(where, "is not an OpenAPI document: no \"openapi\" key");
  }
  return document.dump();
}

}  // namespace

Result<Version> VersionFromManifest(const json& doc, std::string_view service,
                                    std::string_view version) {
  if (!doc.is_object()) return Error(ErrorCode::kInvalid, "the manifest must be an object");
  SHIPD_RETURN_IF_ERROR(
      CheckKeys(doc, "manifest",
                {"service", "version", "artifact", "commit", "tag", "provides", "requires"}));
  Version out;
  auto doc_service = OptionalString(doc, "service", "");
  if (!doc_service.ok()) return doc_service.error();
  if (!doc_service->empty() && !service.empty() && *doc_service != service) {
    return Invalid("service", "the manifest names \"" + *doc_service +
                                  "\" but the request is for \"" + std::string(service) + "\"");
  }
  out.service = service.empty() ? *doc_service : std::string(service);
  if (out.service.empty()) return Invalid("service", "is required");
  SHIPD_RETURN_IF_ERROR(ValidateName("service", out.service));

  auto doc_version = OptionalString(doc, "version", "");
  if (!doc_version.ok()) return doc_version.error();
  std::string version_text = version.empty() ? *doc_version : std::string(version);
  if (version_text.empty()) return Invalid("version", "is required");
  auto parsed_version = Semver::Parse(version_text);
  if (!parsed_version.ok()) return parsed_version.error().WithContext("version");
  if (!doc_version->empty() && !version.empty()) {
    auto other = Semver::Parse(*doc_version);
    if (!other.ok()) return other.error().WithContext("version");
    if (other->ToString() != parsed_version->ToString()) {
      return Invalid("version", "the manifest says " + other->ToString() +
                                    " but the request is for " + parsed_version->ToString());
    }
  }
  out.version = std::move(parsed_version).value();

  for (auto [field, key] : {std::pair{&out.artifact, "artifact"}, std::pair{&out.commit, "commit"},
                            std::pair{&out.tag, "tag"}}) {
    auto value = OptionalString(doc, key, "");
    if (!value.ok()) return value.error();
    *field = std::move(value).value();
  }

  if (auto it = doc.find("provides"); it != doc.end() && !it->is_null()) {
    if (!it->is_array()) return Invalid("provides", "must be a list");
    std::set<std::string> seen;
    for (size_t i = 0; i < it->size(); ++i) {
      const json& item = (*it)[i];
      std::string where = "provides[" + std::to_string(i) + "]";
      if (!item.is_object()) return Invalid(where, "must be an object with api and version");
      SHIPD_RETURN_IF_ERROR(CheckKeys(item, where, {"api", "version", "spec"}));
      Provide provide;
      auto api = RequiredString(item, "api", where + ".");
      if (!api.ok()) return api.error();
      if (auto valid = ValidateName("api", *api); !valid.ok()) {
        return valid.error().WithContext(where + ".api");
      }
      if (!seen.insert(*api).second)
        return Invalid(where + ".api", "\"" + *api + "\" is provided twice");
      provide.api = std::move(api).value();
      auto api_version = RequiredString(item, "version", where + ".");
      if (!api_version.ok()) return api_version.error();
      auto semver = Semver::Parse(*api_version);
      if (!semver.ok()) return semver.error().WithContext(where + ".version");
      provide.version = std::move(semver).value();
      if (auto spec = item.find("spec"); spec != item.end() && !spec->is_null()) {
        auto normalized = NormalizeSpec(*spec, where + ".spec");
        if (!normalized.ok()) return normalized.error();
        provide.spec = std::move(normalized).value();
      }
      out.provides.push_back(std::move(provide));
    }
  }

  if (auto it = doc.find("requires"); it != doc.end() && !it->is_null()) {
    if (!it->is_array()) return Invalid("requires", "must be a list");
    std::set<std::string> seen;
    for (size_t i = 0; i < it->size(); ++i) {
      const json& item = (*it)[i];
      std::string where = "requires[" + std::to_string(i) + "]";
      if (!item.is_object()) return Invalid(where, "must be an object with api and range");
      SHIPD_RETURN_IF_ERROR(CheckKeys(item, where, {"api", "range", "optional"}));
      Require require;
      auto api = RequiredString(item, "api", where + ".");
      if (!api.ok()) return api.error();
      if (auto valid = ValidateName("api", *api); !valid.ok()) {
        return valid.error().WithContext(where + ".api");
      }
      if (!seen.insert(*api).second)
        return Invalid(where + ".api", "\"" + *api + "\" is required twice");
      require.api = std::move(api).value();
      auto range_text = RequiredString(item, "range", where + ".");
      if (!range_text.ok()) return range_text.error();
      auto range = Range::Parse(*range_text);
      if (!range.ok()) return range.error().WithContext(where + ".range");
      require.range = std::move(range).value();
      if (auto optional = item.find("optional"); optional != item.end() && !optional->is_null()) {
        if (!optional->is_boolean()) return Invalid(where + ".optional", "must be true or false");
        require.optional = optional->get<bool>();
      }
      out.requires_.push_back(std::move(require));
    }
  }

  out.content_hash = Sha256Hex(CanonicalContent(out).dump());
  return out;
}

json CanonicalContent(const Version& version) {
  json provides = json::array();
  std::vector<const Provide*> sorted_provides;
  for (const auto& p : version.provides) sorted_provides.push_back(&p);
  std::sort(sorted_provides.begin(), sorted_provides.end(),
            [](const Provide* a, const Provide* b) { return a->api < b->api; });
  for (const Provide* p : sorted_provides) {
    provides.push_back({{"api", p->api},
                        {"version", p->version.ToString()},
                        {"spec_sha256", p->spec.empty() ? "" : Sha256Hex(p->spec)}});
  }
  std::vector<const Require*> sorted_requires;
  for (const auto& r : version.requires_) sorted_requires.push_back(&r);
  std::sort(sorted_requires.begin(), sorted_requires.end(),
            [](const Require* a, const Require* b) { return a->api < b->api; });
  json requirements = json::array();
  for (const Require* r : sorted_requires) {
    requirements.push_back(
        {{"api", r->api}, {"range", r->range.text()}, {"optional", r->optional}});
  }
  return {{"artifact", version.artifact},
          {"commit", version.commit},
          {"provides", std::move(provides)},
          {"requires", std::move(requirements)}};
}

json VersionToJson(const Version& version, bool with_specs) {
  json provides = json::array();
  for (const auto& p : version.provides) {
    json item = {{"api", p.api}, {"version", p.version.ToString()}};
    if (with_specs && !p.spec.empty()) item["spec"] = json::parse(p.spec);
    provides.push_back(std::move(item));
  }
  json requirements = json::array();
  for (const auto& r : version.requires_) {
    requirements.push_back({{"api", r.api}, {"range", r.range.text()}, {"optional", r.optional}});
  }
  return {{"service", version.service},
          {"version", version.version.ToString()},
          {"artifact", version.artifact},
          {"commit", version.commit},
          {"tag", version.tag},
          {"provides", std::move(provides)},
          {"requires", std::move(requirements)},
          {"content_sha256", version.content_hash},
          {"created_at", version.created_at}};
}

}  // namespace shipd
