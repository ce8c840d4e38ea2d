#include "shipd/model/permissions.h"

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
  const RoleTable roles = BuiltinRoles();
  auto of = [&](const std::string& role) { return PermissionsOf(roles, {role}); };
  EXPECT_TRUE(Grants(of("viewer"), "read"));
  EXPECT_FALSE(Grants(of("viewer"), "register:*"));
  EXPECT_TRUE(Grants(of("deployer"), "register:*"));
  EXPECT_TRUE(Grants(of("deployer"), "promote:prod"));
  EXPECT_TRUE(Grants(of("deployer"), "approve:prod"));
  EXPECT_FALSE(Grants(of("deployer"), "override:prod"));
  EXPECT_FALSE(Grants(of("viewer"), "approve:prod"));
  EXPECT_FALSE(Grants(of("viewer"), "promote:prod"));
  EXPECT_FALSE(Grants(of("deployer"), "admin"));
  EXPECT_TRUE(Grants(of("admin"), "override:prod"));
  EXPECT_TRUE(of("root").empty());
  auto status = ValidateRoleNames(roles, {"viewer", "root"});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message().find("\"root\" (known: admin, deployer, viewer)"),
            std::string::npos)
      << status.error().message();
  EXPECT_FALSE(ValidateRoleNames(roles, {}).ok());
}

TEST(Roles, SeveralRolesGrantTheUnionOfTheirPermissions) {
  RoleTable roles = BuiltinRoles();
  roles["release-manager"] = {"read", "approve:prod", "promote:prod"};
  roles["stager"] = {"read", "promote:staging"};
  const auto granted = PermissionsOf(roles, {"release-manager", "stager", "gone"});
  EXPECT_EQ(granted,
            (std::vector<std::string>{"read", "approve:prod", "promote:prod", "promote:staging"}));
  EXPECT_TRUE(Grants(granted, "promote:staging"));
  EXPECT_FALSE(Grants(granted, "approve:staging"));
}

TEST(Roles, SplitAndJoinTheStoredText) {
  EXPECT_EQ(SplitRoles("a, b,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(SplitRoles("viewer"), (std::vector<std::string>{"viewer"}));
  EXPECT_TRUE(SplitRoles("").empty());
  EXPECT_EQ(JoinRoles({"a", "b"}), "a,b");
}

TEST(ValidatePermission, AcceptsKnownVerbsWithEnvironmentOrWildcard) {
  for (const char* permission :
       {"read", "admin", "register:*", "promote:prod", "approve:prod", "override:prod", "train:*",
        "lock:staging", "freeze:*", "promote:eu-west-1"}) {
    EXPECT_TRUE(ValidatePermission(permission).ok()) << permission;
  }
}

TEST(ValidatePermission, RejectsUnknownVerbsAndMisplacedEnvironments) {
  auto message = [](const char* permission) {
    auto status = ValidatePermission(permission);
    return status.ok() ? std::string("ok") : status.error().message();
  };
  EXPECT_NE(message("deploy:prod").find("unknown verb \"deploy\""), std::string::npos);
  EXPECT_NE(message("read:prod").find("read takes no environment"), std::string::npos);
  EXPECT_NE(message("admin:*").find("admin takes no environment"), std::string::npos);
  EXPECT_NE(message("promote").find("promote:ENV or promote:*"), std::string::npos);
  EXPECT_NE(message("promote:").find("invalid environment name"), std::string::npos);
  EXPECT_NE(message("promote:Prod").find("invalid environment name"), std::string::npos);
  EXPECT_NE(message("").find("unknown verb"), std::string::npos);
}

}  // namespace
}  // namespace shipd
