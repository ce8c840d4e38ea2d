// Git tag webhooks through the real daemon, with real local repositories made by the test and
// payloads shaped and signed as GitHub, GitLab and Gitea send them.
#include <csignal>
#include <fstream>

#include "integration/fixture.h"
#include "shipd/common/sha256.h"

namespace shipd::testing {
namespace {

using nlohmann::json;

constexpr char kSecret[] = "s3cret-hook-key";

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = dir_.path() / "orders";
    url_ = "file://" + repo_.string();
    Git({"init", "-q", "-b", "main", repo_.string()});
    Git({"config", "user.email", "dev@example.com"});
    Git({"config", "user.name", "Dev"});
    WriteManifest("3.1.0", "^2.1");
    Commit("first");
  }

  void StartDaemon(const std::string& extra_repo_settings = "") {
    std::ofstream(dir_.path() / "hook.secret") << kSecret << "\n";
    std::ofstream(dir_.path() / "shipd.yaml")
        << "repositories:\n  orders:\n    url: " << url_
        << "\n    secret_file: hook.secret\n    poll_interval: off\n"
        << extra_repo_settings;
    admin_ = daemon_.CreateToken("admin-token", "admin");
    ASSERT_TRUE(daemon_.Start({"--config", (dir_.path() / "shipd.yaml").string()}))
        << daemon_.last_error();
  }

  void Git(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/git"};
    if (args[0] != "init") {
      argv.push_back("-C");
      argv.push_back(repo_.string());
    }
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = RunCommand(argv);
    ASSERT_EQ(result.exit_code, 0) << result.err;
  }
  std::string GitOut(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/git", "-C", repo_.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto out = RunCommand(argv).out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  void WriteManifest(const std::string& api_version, const std::string& billing_range) {
    std::filesystem::create_directories(repo_ / "api");
    std::ofstream(repo_ / "api" / "openapi.yaml")
        << "openapi: 3.0.3\ninfo: {title: orders, version: '" << api_version
        << "'}\npaths:\n  /orders:\n    get:\n      responses:\n"
           "        '200': {description: ok}\n";
    std::ofstream(repo_ / "ship.yaml")
        << "service: orders\nartifact: registry.example.com/orders:{{version}}\nprovides:\n"
           "  - api: orders\n    version: "
        << api_version
        << "\n    spec: api/openapi.yaml\nrequires:\n  - api: billing\n    range: " << billing_range
        << "\n";
  }
  void Commit(const std::string& message) {
    Git({"add", "-A"});
    Git({"commit", "-q", "-m", message});
  }

  json GitHubPush(const std::string& tag, bool deleted = false) {
    return {{"ref", "refs/tags/" + tag},
            {"before", std::string(40, '0')},
            {"after", deleted ? std::string(40, '0') : GitOut({"rev-parse", "refs/tags/" + tag})},
            {"created", !deleted},
            {"deleted", deleted},
            {"repository", {{"full_name", "acme/orders"}, {"clone_url", url_}}}};
  }

  std::pair<int, json> Deliver(const std::string& host, const std::string& body,
                               const httplib::Headers& headers) {
    auto client = daemon_.Client();
    auto result = client->Post("/v1/hooks/" + host, headers, body, "application/json");
    if (!result) return {-1, nullptr};
    return {result->status, json::parse(result->body, nullptr, false)};
  }
  std::pair<int, json> DeliverGitHub(const json& payload, const std::string& delivery,
                                     const std::string& secret = kSecret) {
    const std::string body = payload.dump();
    return Deliver("github", body,
                   {{"X-GitHub-Event", "push"},
                    {"X-GitHub-Delivery", delivery},
                    {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(secret, body)}});
  }

  // Long-polls the journal until an event of `kind` about `subject` arrives (no sleeping).
  json WaitForEvent(const std::string& kind, const std::string& subject) {
    int64_t after = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    auto client = daemon_.Client(admin_);
    while (std::chrono::steady_clock::now() < deadline) {
      auto result =
          client->Get("/v1/events?limit=1000&wait_ms=5000&after=" + std::to_string(after));
      if (!result || result->status != 200) break;
      json page = json::parse(result->body);
      for (const auto& e : page["events"]) {
        if (e["kind"] == kind && e["subject"] == subject) return e;
      }
      after = page["next_after"];
    }
    ADD_FAILURE() << "no " << kind << " event for " << subject;
    return nullptr;
  }

  int CountEvents(const std::string& kind) {
    auto client = daemon_.Client(admin_);
    int count = 0;
    const json journal = json::parse(client->Get("/v1/events?limit=1000")->body);
    for (const auto& e : journal["events"]) {
      count += e["kind"] == kind ? 1 : 0;
    }
    return count;
  }

  json GetVersion(const std::string& version) {
    auto result = daemon_.Client(admin_)->Get("/v1/services/orders/versions/" + version);
    if (!result || result->status != 200) return nullptr;
    return json::parse(result->body);
  }

  TempDir dir_;
  DaemonProcess daemon_{dir_.path() / "data"};
  std::filesystem::path repo_;
  std::string url_;
  std::string admin_;
};

TEST_F(WebhookTest, GitHubLightweightTagRegistersTheVersionFromShipYaml) {
  StartDaemon();
  Git({"tag", "v3.1.0"});
  auto [status, body] = DeliverGitHub(GitHubPush("v3.1.0"), "delivery-1");
  ASSERT_EQ(status, 202) << body.dump();
  EXPECT_EQ(body["status"], "accepted");
  WaitForEvent("version.registered", "orders@3.1.0");

  json version = GetVersion("3.1.0");
  ASSERT_FALSE(version.is_null());
  EXPECT_EQ(version["commit"], GitOut({"rev-parse", "HEAD"}));
  EXPECT_EQ(version["tag"], "v3.1.0");
  EXPECT_EQ(version["requires"][0]["range"], "^2.1");
  EXPECT_EQ(version["provides"][0]["spec"]["openapi"], "3.0.3");
}

TEST_F(WebhookTest, GitLabAnnotatedTagUsesThePeeledCommit) {
  StartDaemon();
  Git({"tag", "-a", "v3.1.0", "-m", "release 3.1.0"});
  const std::string tag_object = GitOut({"rev-parse", "refs/tags/v3.1.0"});
  const std::string commit = GitOut({"rev-parse", "HEAD"});
  ASSERT_NE(tag_object, commit);
  json payload = {{"object_kind", "tag_push"},
                  {"ref", "refs/tags/v3.1.0"},
                  {"before", std::string(40, '0')},
                  {"after", tag_object},
                  {"checkout_sha", commit},
                  {"project", {{"path_with_namespace", "acme/orders"}, {"git_http_url", url_}}}};
  auto [status, body] = Deliver("gitlab", payload.dump(),
                                {{"X-Gitlab-Event", "Tag Push Hook"},
                                 {"X-Gitlab-Token", kSecret},
                                 {"X-Gitlab-Event-UUID", "gl-1"}});
  ASSERT_EQ(status, 202) << body.dump();
  WaitForEvent("version.registered", "orders@3.1.0");
  EXPECT_EQ(GetVersion("3.1.0")["commit"], commit);
}

TEST_F(WebhookTest, GiteaSignedDeliveryRegisters) {
  StartDaemon();
  Git({"tag", "v3.1.0"});
  json payload = {{"ref", "refs/tags/v3.1.0"},
                  {"before", std::string(40, '0')},
                  {"after", GitOut({"rev-parse", "refs/tags/v3.1.0"})},
                  {"repository", {{"full_name", "acme/orders"}, {"clone_url", url_}}}};
  const std::string body_text = payload.dump();
  auto [status, body] = Deliver("gitea", body_text,
                                {{"X-Gitea-Event", "push"},
                                 {"X-Gitea-Delivery", "gt-1"},
                                 {"X-Gitea-Signature", HmacSha256Hex(kSecret, body_text)}});
  ASSERT_EQ(status, 202) << body.dump();
  WaitForEvent("version.registered", "orders@3.1.0");
}

TEST_F(WebhookTest, RedeliveryRegistersNothingTwice) {
  StartDaemon();
  Git({"tag", "v3.1.0"});
  ASSERT_EQ(DeliverGitHub(GitHubPush("v3.1.0"), "same-id").first, 202);
  WaitForEvent("version.registered", "orders@3.1.0");
  auto [status, body] = DeliverGitHub(GitHubPush("v3.1.0"), "same-id");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body["status"], "duplicate");
  // Also after a restart: deliveries are remembered on disk.
  ASSERT_EQ(daemon_.Stop(SIGTERM), 0);
  ASSERT_TRUE(daemon_.Start({"--config", (dir_.path() / "shipd.yaml").string()}));
  EXPECT_EQ(DeliverGitHub(GitHubPush("v3.1.0"), "same-id").second["status"], "duplicate");
  EXPECT_EQ(CountEvents("webhook.received"), 1);
  EXPECT_EQ(CountEvents("version.registered"), 1);
}

TEST_F(WebhookTest, ForgedSignatureIs401AndRecordsOnlyASecurityEvent) {
  StartDaemon();
  Git({"tag", "v3.1.0"});
  auto [status, body] = DeliverGitHub(GitHubPush("v3.1.0"), "forged", "not-the-secret");
  EXPECT_EQ(status, 401) << body.dump();
  EXPECT_EQ(body["error"]["code"], "unauthenticated");
  auto missing = Deliver("github", GitHubPush("v3.1.0").dump(), {{"X-GitHub-Event", "push"}});
  EXPECT_EQ(missing.first, 401);
  EXPECT_EQ(CountEvents("webhook.rejected"), 2);
  EXPECT_EQ(CountEvents("webhook.received"), 0);
  EXPECT_TRUE(GetVersion("3.1.0").is_null());
}

TEST_F(WebhookTest, UnknownRepositoryIs404AndMalformedPayloadIs400) {
  StartDaemon();
  json payload = GitHubPush("v3.1.0", true);
  payload["repository"] = {{"clone_url", "https://git.example.com/acme/other.git"}};
  EXPECT_EQ(DeliverGitHub(payload, "x").first, 404);
  EXPECT_EQ(Deliver("github", "{not json", {{"X-GitHub-Event", "push"}}).first, 400);
  EXPECT_EQ(daemon_.Client()->Get("/healthz")->status, 200);
}

TEST_F(WebhookTest, InvalidShipYamlGivesAClearEventAndRegistersNothing) {
  StartDaemon();
  std::ofstream(repo_ / "ship.yaml") << "service: orders\nprovides: [\n";
  Commit("broken manifest");
  Git({"tag", "v3.2.0"});
  ASSERT_EQ(DeliverGitHub(GitHubPush("v3.2.0"), "d-broken").first, 202);
  json event = WaitForEvent("version.ingest_failed", "orders@3.2.0");
  EXPECT_NE(event["data"]["error"].get<std::string>().find("ship.yaml"), std::string::npos)
      << event.dump();
  EXPECT_TRUE(GetVersion("3.2.0").is_null());
}

TEST_F(WebhookTest, MovedTagIsAConflictNeverAnOverwrite) {
  StartDaemon();
  Git({"tag", "v3.1.0"});
  ASSERT_EQ(DeliverGitHub(GitHubPush("v3.1.0"), "m-1").first, 202);
  WaitForEvent("version.registered", "orders@3.1.0");
  const std::string first_commit = GitOut({"rev-parse", "HEAD"});

  WriteManifest("3.1.0", "^2.2");
  Commit("changed after tagging");
  Git({"tag", "-f", "v3.1.0"});
  ASSERT_EQ(DeliverGitHub(GitHubPush("v3.1.0"), "m-2").first, 202);
  json event = WaitForEvent("tag.moved", "orders@3.1.0");
  EXPECT_EQ(event["data"]["registered_commit"], first_commit);
  EXPECT_EQ(event["data"]["tag_commit"], GitOut({"rev-parse", "HEAD"}));
  EXPECT_EQ(GetVersion("3.1.0")["commit"], first_commit);
}

TEST_F(WebhookTest, DeletedAndNonSemverTagsAreIgnoredWithAnEvent) {
  StartDaemon();
  Git({"tag", "latest"});
  ASSERT_EQ(DeliverGitHub(GitHubPush("latest"), "n-1").first, 202);
  json ignored = WaitForEvent("tag.ignored", "orders");
  EXPECT_EQ(ignored["data"]["tag"], "latest");
  ASSERT_EQ(DeliverGitHub(GitHubPush("v9.9.9", true), "n-2").first, 202);
  json deleted = WaitForEvent("tag.deleted", "orders");
  EXPECT_EQ(deleted["data"]["tag"], "v9.9.9");
}

TEST_F(WebhookTest, PromoteToStartsAPromotionThatTheGateStillJudges) {
  StartDaemon("    promote_to: dev\n");
  Git({"tag", "v3.1.0"});
  ASSERT_EQ(DeliverGitHub(GitHubPush("v3.1.0"), "p-1").first, 202);
  // orders requires billing ^2.1, which nothing in dev provides: the gate blocks it.
  json blocked = WaitForEvent("promotion.blocked", "orders@3.1.0");
  EXPECT_EQ(blocked["data"]["verdict"]["reasons"][0]["rule"], "unsatisfied-requirement");

  // A version without requirements fits dev at once.
  std::ofstream(repo_ / "ship.yaml")
      << "service: orders\nprovides:\n  - api: orders\n    version: 3.2.0\n";
  Commit("no requirements");
  Git({"tag", "v3.2.0"});
  ASSERT_EQ(DeliverGitHub(GitHubPush("v3.2.0"), "p-2").first, 202);
  WaitForEvent("rollout.succeeded", "orders@3.2.0");
}

TEST_F(WebhookTest, FromGitAndSyncRegisterWithoutAWebhook) {
  StartDaemon();
  Git({"tag", "v3.1.0"});
  auto from_git =
      daemon_.Shipctl({"version", "register", "orders", "--from-git", "v3.1.0"}, admin_);
  ASSERT_EQ(from_git.exit_code, 0) << from_git.out << from_git.err;
  EXPECT_NE(from_git.out.find("orders@3.1.0 registered"), std::string::npos) << from_git.out;

  WriteManifest("3.2.0", "^2.1");
  Commit("3.2.0");
  Git({"tag", "v3.2.0"});
  Git({"tag", "not-a-version"});
  auto sync = daemon_.Shipctl({"-o", "json", "repo", "sync", "orders"}, admin_);
  ASSERT_EQ(sync.exit_code, 0) << sync.err;
  json outcomes = json::parse(sync.out)["outcomes"];
  ASSERT_EQ(outcomes.size(), 1u) << sync.out;
  EXPECT_EQ(outcomes[0]["version"], "orders@3.2.0");
  EXPECT_EQ(outcomes[0]["status"], "registered");
  EXPECT_FALSE(GetVersion("3.2.0").is_null());

  auto missing = daemon_.Shipctl({"version", "register", "orders", "--from-git", "v7.0.0"}, admin_);
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_NE(missing.err.find("v7.0.0"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace shipd::testing
