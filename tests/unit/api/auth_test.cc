#include "shipd/api/auth.h"

#include <gtest/gtest.h>

namespace shipd {
namespace {

TEST(Grants, AdminGrantsEverything) {
  EXPECT_TRUE(Grants({"admin"}, "promote:prod"));
  EXPECT_TRUE(Grants({"admin"}, "read"));
}

TEST(Grants, WildcardEnvironmentGrantsEveryEnvironmentOfThatVerb) {
  EXPECT_TRUE(Grants({"promote:*"}, "promote:prod"));
  EXPECT_TRUE(Grants({"promote:*"}, "promote:*"));
  EXPECT_FALSE(Grants({"promote:*"}, "approve:prod"));
  EXPECT_FALSE(Grants({"promote:*"}, "promoter:prod"));
  EXPECT_FALSE(Grants({"promote:*"}, "read"));
}

TEST(Grants, ExactPermissionOnly) {
  EXPECT_TRUE(Grants({"promote:staging"}, "promote:staging"));
  EXPECT_FALSE(Grants({"promote:staging"}, "promote:prod"));
  EXPECT_FALSE(Grants({"promote:staging"}, "promote:*"));
}

TEST(Grants, DenyByDefault) {
  EXPECT_FALSE(Grants({}, "read"));
  EXPECT_FALSE(Grants({"read"}, "register:*"));
}

TEST(Roles, BuiltinRoles) {
  ASSERT_NE(PermissionsOfRole("viewer"), nullptr);
  EXPECT_TRUE(Grants(*PermissionsOfRole("viewer"), "read"));
  EXPECT_FALSE(Grants(*PermissionsOfRole("viewer"), "register:*"));
  EXPECT_TRUE(Grants(*PermissionsOfRole("deployer"), "register:*"));
  EXPECT_TRUE(Grants(*PermissionsOfRole("deployer"), "promote:prod"));
  EXPECT_TRUE(Grants(*PermissionsOfRole("deployer"), "approve:prod"));
  EXPECT_FALSE(Grants(*PermissionsOfRole("viewer"), "approve:prod"));
  EXPECT_FALSE(Grants(*PermissionsOfRole("viewer"), "promote:prod"));
  EXPECT_FALSE(Grants(*PermissionsOfRole("deployer"), "admin"));
  EXPECT_EQ(PermissionsOfRole("root"), nullptr);
  auto status = ValidateRole("root");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message().find("admin, deployer, viewer"), std::string::npos);
}

}  // namespace
}  // namespace shipd
