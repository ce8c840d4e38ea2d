#include "shipd/model/manifest.h"

#include <gtest/gtest.h>

namespace shipd {
namespace {

using nlohmann::json;

json Orders() {
  return {{"service", "orders"},
          {"version", "3.1.0"},
          {"artifact", "registry.example.com/orders:3.1.0"},
          {"provides", {{{"api", "orders"}, {"version", "3.1.0"}}}},
          {"requires",
           {{{"api", "billing"}, {"range", "^2.1"}},
            {{"api", "users"}, {"range", ">=1.4.0 <3.0.0"}, {"optional", true}}}}};
}

TEST(VersionFromManifest, ReadsTheShipYamlShape) {
  auto version = VersionFromManifest(Orders(), "orders", "");
  ASSERT_TRUE(version.ok()) << version.error().message();
  EXPECT_EQ(version->service, "orders");
  EXPECT_EQ(version->version.ToString(), "3.1.0");
  ASSERT_EQ(version->provides.size(), 1u);
  EXPECT_EQ(version->provides[0].api, "orders");
  ASSERT_EQ(version->requires_.size(), 2u);
  EXPECT_TRUE(version->requires_[1].optional);
  EXPECT_EQ(version->content_hash.size(), 64u);
}

TEST(VersionFromManifest, VersionFromTheRequestWinsWhenTheDocumentHasNone) {
  json doc = Orders();
  doc.erase("version");
  auto version = VersionFromManifest(doc, "orders", "v3.2.0");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->version.ToString(), "3.2.0");
}

TEST(VersionFromManifest, DisagreeingServiceOrVersionIsInvalid) {
  auto other_service = VersionFromManifest(Orders(), "billing", "");
  ASSERT_FALSE(other_service.ok());
  EXPECT_NE(other_service.error().message().find("\"orders\""), std::string::npos);
  auto other_version = VersionFromManifest(Orders(), "orders", "3.2.0");
  ASSERT_FALSE(other_version.ok());
  EXPECT_NE(other_version.error().message().find("3.1.0"), std::string::npos);
}

TEST(VersionFromManifest, ErrorsNameTheField) {
  struct Case {
    std::function<void(json&)> mutate;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](json& d) { d["version"] = "1.2"; }, "version: "},
      {[](json& d) { d["requires"][0]["range"] = ">=banana"; }, "requires[0].range"},
      {[](json& d) { d["requires"][1].erase("range"); }, "requires[1].range: is required"},
      {[](json& d) { d["provides"][0]["version"] = "banana"; }, "provides[0].version"},
      {[](json& d) { d["provides"][0].erase("api"); }, "provides[0].api: is required"},
      {[](json& d) { d["provides"][0]["api"] = "Bad API"; }, "provides[0].api"},
      {[](json& d) { d["provides"] = "orders"; }, "provides: must be a list"},
      {[](json& d) { d["requires"][0]["optional"] = "yes"; }, "requires[0].optional"},
      {[](json& d) { d["requires"][0]["rnage"] = "^1"; }, "unknown key \"rnage\""},
      {[](json& d) { d["artifact"] = 5; }, "artifact: must be a string"},
      {[](json& d) { d["requires"][1]["api"] = "billing"; }, "required twice"},
      {[](json& d) { d["provides"][0]["spec"] = "just: text"; }, "not an OpenAPI document"},
      {[](json& d) { d["provides"][0]["spec"] = "{unclosed"; }, "provides[0].spec"},
      {[](json& d) { d["version"] = nullptr; }, "version: is required"},
  };
  for (const auto& c : cases) {
    json doc = Orders();
    c.mutate(doc);
    auto version = VersionFromManifest(doc, "orders", "");
    ASSERT_FALSE(version.ok()) << c.expected;
    EXPECT_EQ(version.error().code(), ErrorCode::kInvalid) << c.expected;
    EXPECT_NE(version.error().message().find(c.expected), std::string::npos)
        << "expected \"" << c.expected << "\" in: " << version.error().message();
  }
}

TEST(VersionFromManifest, ContentHashIgnoresOrderButNotContent) {
  json reordered = Orders();
  std::swap(reordered["requires"][0], reordered["requires"][1]);
  auto a = VersionFromManifest(Orders(), "orders", "");
  auto b = VersionFromManifest(reordered, "orders", "");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->content_hash, b->content_hash);
  json changed = Orders();
  changed["requires"][0]["range"] = "^2.2";
  auto c = VersionFromManifest(changed, "orders", "");
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->content_hash, c->content_hash);
}

TEST(VersionFromManifest, SpecAsObjectOrYamlStringIsTheSameContent) {
  json as_object = Orders();
  as_object["provides"][0]["spec"] = {{"openapi", "3.0.3"}, {"paths", json::object()}};
  json as_yaml = Orders();
  as_yaml["provides"][0]["spec"] = "openapi: 3.0.3\npaths: {}\n";
  auto a = VersionFromManifest(as_object, "orders", "");
  auto b = VersionFromManifest(as_yaml, "orders", "");
  ASSERT_TRUE(a.ok()) << a.error().message();
  ASSERT_TRUE(b.ok()) << b.error().message();
  EXPECT_EQ(a->content_hash, b->content_hash);
  EXPECT_EQ(json::parse(a->provides[0].spec)["openapi"], "3.0.3");
}

TEST(ValidateName, FollowsTheServiceNameRule) {
  EXPECT_TRUE(ValidateName("service", "orders").ok());
  EXPECT_TRUE(ValidateName("service", "0rders-v2").ok());
  EXPECT_FALSE(ValidateName("service", "").ok());
  EXPECT_FALSE(ValidateName("service", "-orders").ok());
  EXPECT_FALSE(ValidateName("service", "Orders").ok());
  EXPECT_FALSE(ValidateName("service", "orders_v2").ok());
  EXPECT_FALSE(ValidateName("service", std::string(64, 'a')).ok());
  EXPECT_TRUE(ValidateName("service", std::string(63, 'a')).ok());
}

}  // namespace
}  // namespace shipd
