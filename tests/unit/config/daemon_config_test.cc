#include "shipd/config/daemon_config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

namespace shipd {
namespace {

class DaemonConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("shipd-config-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<DaemonConfig> Load(const std::string& text) {
    const auto path = dir_ / "shipd.yaml";
    std::ofstream(path) << text;
    return LoadDaemonConfig(path);
  }

  std::filesystem::path dir_;
};

TEST_F(DaemonConfigTest, ReadsEveryKeyAndResolvesPathsAgainstTheFile) {
  auto config = Load(
      "listen: 0.0.0.0:8080\ndata: state\npipelines: /etc/shipd/pipelines\nlog_format: json\n"
      "log_level: debug\nmax_body_bytes: 2048\nhttp_threads: 4\n");
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->listen, "0.0.0.0:8080");
  EXPECT_EQ(config->data_dir, dir_ / "state");
  EXPECT_EQ(config->pipelines, "/etc/shipd/pipelines");
  EXPECT_EQ(config->log_format, "json");
  EXPECT_EQ(config->max_body_bytes, 2048u);
  EXPECT_EQ(config->http_threads, 4);
}

TEST_F(DaemonConfigTest, ErrorsNameFileLineAndColumn) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"listen: nowhere\n", "shipd.yaml:1:9: listen address \"nowhere\" must be host:port"},
      {"listen: 127.0.0.1:99999\n", "port must be a number from 0 to 65535"},
      {"log_format: xml\n", "shipd.yaml:1:13: log_format must be text or json"},
      {"http_threads: 0\n", "http_threads must be >= 1"},
      {"data: [a, b]\n", "\"data\" must be a scalar"},
      {"colour: blue\n", "shipd.yaml:1:1: unknown key \"colour\""},
      {"a: [\n", "shipd.yaml:"},
      {"repositories:\n  orders: {}\n", "repository \"orders\": url is required"},
      {"repositories:\n  orders: {url: /srv/orders.git, secret: hunter2}\n",
       "use secret_env or secret_file"},
      {"repositories:\n  orders: {url: /srv/orders.git, secret_env: SHIPD_TEST_UNSET_VAR}\n",
       "environment variable SHIPD_TEST_UNSET_VAR is not set"},
      {"repositories:\n  orders: {url: /srv/o.git, tag_pattern: release}\n",
       "tag_pattern must contain {version}"},
      {"repositories:\n  orders: {url: /srv/o.git, poll_interval: often}\n", "often"},
      {"repositories:\n  Orders: {url: /srv/o.git}\n", "invalid service name \"Orders\""},
      {"repositories:\n  orders: {url: /srv/o.git, brnach: main}\n", "unknown key \"brnach\""},
      {"roles:\n  release-manager: [read, deploy:prod]\n",
       "shipd.yaml:2:27: role \"release-manager\": invalid permission \"deploy:prod\": unknown "
       "verb \"deploy\""},
      {"roles:\n  auditor: [read:prod]\n",
       "shipd.yaml:2:13: role \"auditor\": invalid permission "
       "\"read:prod\": read takes no environment"},
      {"roles:\n  ops:\n    - promote\n", "shipd.yaml:3:7: role \"ops\": invalid permission"},
      {"roles:\n  Ops: [read]\n", "shipd.yaml:2:3: invalid role name \"Ops\""},
      {"roles:\n  ops: read\n", "shipd.yaml:2:8: role \"ops\" must be a list of permissions"},
      {"roles: [read]\n", "roles must map role names to lists of permissions"},
      {"notifications: [ops]\n", "shipd.yaml:1:16: notifications must map sink names"},
      {"notifications:\n  ops: {url: http://h/x, secret_env: HOME}\n",
       "shipd.yaml:2:8: notification \"ops\": type is required (webhook or slack)"},
      {"notifications:\n  ops: {type: email, url: http://h/x}\n",
       "shipd.yaml:2:15: notification \"ops\": unknown type \"email\" (known: webhook, slack)"},
      {"notifications:\n  ops: {type: slack}\n", "url (or url_env, url_file) is required"},
      {"notifications:\n  ops: {type: slack, url: hooks.slack.com/x}\n",
       "shipd.yaml:2:27: notification \"ops\": url must give an http:// or https:// URL"},
      {"notifications:\n  ops: {type: webhook, url: http://h/x}\n",
       "shipd.yaml:2:8: notification \"ops\": webhook messages are signed: secret_env or "
       "secret_file is required"},
      {"notifications:\n  ops: {type: webhook, url: http://h/x, secret: hunter2}\n",
       "shipd.yaml:2:41: notification \"ops\": secrets are not kept in the configuration"},
      {"notifications:\n  ops: {type: webhook, url: http://h/x, secret_env: "
       "SHIPD_TEST_UNSET_VAR}\n",
       "environment variable SHIPD_TEST_UNSET_VAR is not set"},
      {"notifications:\n  chat: {type: slack, url: http://h/x, secret_env: HOME}\n",
       "slack messages are not signed"},
      {"notifications:\n  ops:\n    type: slack\n    url: http://h/x\n"
       "    events: [rollout.started, rollout.sucseeded]\n",
       "shipd.yaml:5:31: notification \"ops\": unknown event kind \"rollout.sucseeded\" (known: "},
      {"notifications:\n  ops: {type: slack, url: http://h/x, events: [notification.failed]}\n",
       "notifications are not sent about notifications"},
      {"notifications:\n  ops: {type: slack, url: http://h/x, events: [deploy.*]}\n",
       "unknown event kind prefix \"deploy.*\""},
      {"notifications:\n  ops: {type: slack, url: http://h/x, events: []}\n",
       "events must not be empty"},
      {"notifications:\n  ops: {type: slack, url: http://h/x, timeout: soon}\n",
       "shipd.yaml:2:48: notification \"ops\": timeout: "},
      {"notifications:\n  ops: {type: slack, url: http://h/x, max_attempts: 0}\n",
       "max_attempts must be >= 1"},
      {"notifications:\n  ops: {type: slack, url: http://h/x, retries: 3}\n",
       "shipd.yaml:2:39: notification \"ops\": unknown key \"retries\""},
      {"notifications:\n  Ops: {type: slack, url: http://h/x}\n",
       "shipd.yaml:2:3: invalid notification name \"Ops\""},
      {"notifications:\n  ops: {type: slack, url_env: SHIPD_TEST_UNSET_VAR}\n",
       "environment variable SHIPD_TEST_UNSET_VAR is not set"},
  };
  for (const auto& c : cases) {
    auto config = Load(c.text);
    ASSERT_FALSE(config.ok()) << c.text;
    EXPECT_NE(config.error().message().find(c.expected), std::string::npos)
        << "expected \"" << c.expected << "\" in: " << config.error().message();
  }
}

TEST_F(DaemonConfigTest, RolesAddToAndRedefineTheBuiltinRoles) {
  auto config = Load(R"(roles:
  release-manager: [read, approve:prod, promote:prod]
  viewer: [read, train:*]
  nobody: []
)");
  ASSERT_TRUE(config.ok()) << config.error().message();
  const RoleTable& roles = config->roles;
  EXPECT_EQ(roles.at("release-manager"),
            (std::vector<std::string>{"read", "approve:prod", "promote:prod"}));
  EXPECT_EQ(roles.at("viewer"), (std::vector<std::string>{"read", "train:*"}));
  EXPECT_TRUE(roles.at("nobody").empty());
  EXPECT_EQ(roles.at("admin"), BuiltinRoles().at("admin"));
  EXPECT_EQ(roles.at("deployer"), BuiltinRoles().at("deployer"));
}

TEST_F(DaemonConfigTest, WithoutRolesTheBuiltinRolesApply) {
  auto config = Load("listen: 127.0.0.1:0\n");
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->roles, BuiltinRoles());
}

TEST_F(DaemonConfigTest, RepositoriesReadSecretsFromEnvironmentOrFile) {
  ::setenv("SHIPD_TEST_HOOK_SECRET", "from-env", 1);
  std::ofstream(dir_ / "billing.secret") << "from-file\n";
  auto config = Load(R"(repositories:
  orders:
    url: https://git.example.com/orders.git
    secret_env: SHIPD_TEST_HOOK_SECRET
    tag_pattern: release-{version}
    promote_to: dev
  billing:
    url: /srv/git/billing.git
    secret_file: billing.secret
    manifest: deploy/ship.yaml
)");
  ASSERT_TRUE(config.ok()) << config.error().message();
  ASSERT_EQ(config->repositories.size(), 2u);
  const auto& orders = config->repositories[0];
  EXPECT_EQ(orders.service, "orders");
  EXPECT_EQ(orders.secret, "from-env");
  EXPECT_EQ(orders.tag_pattern, "release-{version}");
  EXPECT_EQ(orders.promote_to, "dev");
  EXPECT_EQ(orders.poll_interval.count(), 0);  // remote: polling is opt-in
  const auto& billing = config->repositories[1];
  EXPECT_EQ(billing.secret, "from-file");
  EXPECT_EQ(billing.manifest, "deploy/ship.yaml");
  EXPECT_EQ(billing.poll_interval, std::chrono::minutes(1));  // local: polled by default
}

TEST_F(DaemonConfigTest, NotificationsReadEverySettingAndDefaultTheRest) {
  ::setenv("SHIPD_TEST_NOTIFY_SECRET", "sign-with-this", 1);
  std::ofstream(dir_ / "slack.url") << "https://hooks.slack.com/services/T0/B0/x\n";
  auto config = Load(R"(notifications:
  ops:
    type: webhook
    url: https://hooks.example.com/shipd
    secret_env: SHIPD_TEST_NOTIFY_SECRET
    events: [rollout.succeeded, promotion.blocked, train.*]
    environments: [prod]
    services: [orders, web]
    timeout: 5s
    max_attempts: 8
    backoff: 250ms
    max_backoff: 30s
  chat:
    type: slack
    url_file: slack.url
)");
  ASSERT_TRUE(config.ok()) << config.error().message();
  ASSERT_EQ(config->notifications.size(), 2u);
  const NotificationSink& ops = config->notifications[0];
  EXPECT_EQ(ops.name, "ops");
  EXPECT_EQ(ops.type, SinkType::kWebhook);
  EXPECT_EQ(ops.url, "https://hooks.example.com/shipd");
  EXPECT_EQ(ops.secret, "sign-with-this");
  EXPECT_EQ(ops.events,
            (std::vector<std::string>{"rollout.succeeded", "promotion.blocked", "train.*"}));
  EXPECT_EQ(ops.environments, std::vector<std::string>{"prod"});
  EXPECT_EQ(ops.services, (std::vector<std::string>{"orders", "web"}));
  EXPECT_EQ(ops.timeout, std::chrono::seconds(5));
  EXPECT_EQ(ops.max_attempts, 8);
  EXPECT_EQ(ops.backoff, std::chrono::milliseconds(250));
  EXPECT_EQ(ops.max_backoff, std::chrono::seconds(30));
  const NotificationSink& chat = config->notifications[1];
  EXPECT_EQ(chat.type, SinkType::kSlack);
  EXPECT_EQ(chat.url, "https://hooks.slack.com/services/T0/B0/x");
  EXPECT_TRUE(chat.secret.empty());
  EXPECT_EQ(chat.events, DefaultNotificationEvents());
  EXPECT_TRUE(chat.environments.empty());
  EXPECT_EQ(chat.max_attempts, 5);
}

TEST(EventPatterns, MatchKindsPrefixesAndEverythingButNotifications) {
  EXPECT_TRUE(MatchesEventPatterns({"rollout.succeeded"}, "rollout.succeeded"));
  EXPECT_FALSE(MatchesEventPatterns({"rollout.succeeded"}, "rollout.started"));
  EXPECT_TRUE(MatchesEventPatterns({"train.*"}, "train.departed"));
  EXPECT_FALSE(MatchesEventPatterns({"train.*"}, "trains.departed"));
  EXPECT_TRUE(MatchesEventPatterns({"*"}, "check.failed"));
  EXPECT_FALSE(MatchesEventPatterns({"*"}, "notification.failed"));
  EXPECT_FALSE(MatchesEventPatterns({"notification.failed"}, "notification.failed"));
  for (const auto& kind : DefaultNotificationEvents()) {
    EXPECT_TRUE(ValidateEventPattern(kind).ok()) << kind;
  }
  EXPECT_TRUE(ValidateEventPattern("rollout.*").ok());
  EXPECT_FALSE(ValidateEventPattern("notification.*").ok());
  EXPECT_FALSE(ValidateEventPattern("rollout").ok());
}

TEST(ParseListenAddress, SplitsHostAndPort) {
  auto parsed = ParseListenAddress("[::1]:7700");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->first, "::1");
  EXPECT_EQ(parsed->second, 7700);
  EXPECT_FALSE(ParseListenAddress(":7700").ok());
  EXPECT_FALSE(ParseListenAddress("host:").ok());
}

}  // namespace
}  // namespace shipd
