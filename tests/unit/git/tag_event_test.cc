#include "shipd/git/tag_event.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "shipd/common/sha256.h"

namespace shipd {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kSecret[] = "s3cr3t";
constexpr char kCommit[] = "9f1c0b5e6a2d4c8e7b3a1f0e9d8c7b6a5f4e3d2c";
constexpr char kTagObject[] = "1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c";
constexpr char kZeros[] = "0000000000000000000000000000000000000000";

// GitHub and Gitea describe the repository the same way.
json GitHubRepository() {
  return {{"id", 1296269},
          {"name", "orders"},
          {"full_name", "acme/orders"},
          {"html_url", "https://github.com/acme/orders"},
          {"clone_url", "https://github.com/acme/orders.git"},
          {"ssh_url", "git@github.com:acme/orders.git"},
          {"git_url", "git://github.com/acme/orders.git"}};
}

json GitHubPush(const std::string& ref, const std::string& after) {
  return {{"ref", ref},
          {"before", kZeros},
          {"after", after},
          {"created", true},
          {"deleted", false},
          {"forced", false},
          {"base_ref", nullptr},
          {"compare", "https://github.com/acme/orders/compare/v3.2.0"},
          {"commits", json::array()},
          {"head_commit", {{"id", kCommit}, {"message", "release"}}},
          {"repository", GitHubRepository()},
          {"pusher", {{"name", "octocat"}}},
          {"sender", {{"login", "octocat"}}}};
}

HeaderMap GitHubHeaders(const std::string& event, const std::string& body) {
  return {{"X-GitHub-Event", event},
          {"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
          {"X-GitHub-Hook-ID", "292430182"},
          {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(kSecret, body)},
          {"Content-Type", "application/json"},
          {"User-Agent", "GitHub-Hookshot/044aadd"}};
}

json GitLabTagPush(const std::string& after, const json& checkout_sha) {
  return {{"object_kind", "tag_push"},
          {"event_name", "tag_push"},
          {"before", kZeros},
          {"after", after},
          {"ref", "refs/tags/v3.2.0"},
          {"ref_protected", true},
          {"checkout_sha", checkout_sha},
          {"user_id", 1},
          {"user_name", "John Smith"},
          {"project_id", 1},
          {"project",
           {{"id", 1},
            {"name", "orders"},
            {"web_url", "https://gitlab.example.com/acme/orders"},
            {"git_ssh_url", "git@gitlab.example.com:acme/orders.git"},
            {"git_http_url", "https://gitlab.example.com/acme/orders.git"},
            {"namespace", "acme"},
            {"path_with_namespace", "acme/orders"},
            {"default_branch", "main"},
            {"homepage", "https://gitlab.example.com/acme/orders"}}},
          {"commits", json::array()},
          {"total_commits_count", 0},
          {"repository",
           {{"name", "orders"},
            {"url", "git@gitlab.example.com:acme/orders.git"},
            {"homepage", "https://gitlab.example.com/acme/orders"},
            {"git_http_url", "https://gitlab.example.com/acme/orders.git"},
            {"git_ssh_url", "git@gitlab.example.com:acme/orders.git"}}}};
}

HeaderMap GitLabHeaders(const std::string& event, const std::string& token) {
  return {{"X-Gitlab-Event", event},
          {"X-Gitlab-Token", token},
          {"X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e"},
          {"X-Gitlab-Instance", "https://gitlab.example.com"},
          {"Content-Type", "application/json"}};
}

json GiteaPush(const std::string& ref, const std::string& after) {
  json repository = GitHubRepository();
  repository["html_url"] = "https://git.example.com/acme/orders";
  repository["clone_url"] = "https://git.example.com/acme/orders.git";
  repository["ssh_url"] = "git@git.example.com:acme/orders.git";
  return {{"ref", ref},
          {"before", kZeros},
          {"after", after},
          {"compare_url", ""},
          {"commits", json::array()},
          {"repository", repository},
          {"pusher", {{"login", "gitea"}}}};
}

// Gitea sends its own headers and GitHub's, for compatibility.
HeaderMap GiteaHeaders(const std::string& event, const std::string& body) {
  return {{"X-Gitea-Event", event},
          {"X-Gitea-Event-Type", event},
          {"X-Gitea-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
          {"X-Gitea-Signature", HmacSha256Hex(kSecret, body)},
          {"X-GitHub-Event", event},
          {"X-GitHub-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
          {"X-Gogs-Event", event}};
}

TEST(GitHubTagEvent, TagPushIsTagPushed) {
  std::string body = GitHubPush("refs/tags/v3.2.0", kTagObject).dump();
  auto event = ParseTagEvent(GitHost::kGitHub, GitHubHeaders("push", body), body, kSecret);
  ASSERT_TRUE(event.ok()) << event.error().message();
  EXPECT_EQ(event->host, GitHost::kGitHub);
  EXPECT_EQ(event->kind, TagEventKind::kTagPushed);
  EXPECT_EQ(event->event, "push");
  EXPECT_EQ(event->tag, "v3.2.0");
  EXPECT_EQ(event->object_id, kTagObject);
  EXPECT_EQ(event->commit, "");
  EXPECT_EQ(event->delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  EXPECT_THAT(event->repositories,
              ElementsAre("https://github.com/acme/orders.git", "https://github.com/acme/orders",
                          "git@github.com:acme/orders.git", "git://github.com/acme/orders.git",
                          "acme/orders"));
}

TEST(GitHubTagEvent, ForgedOrMissingSignatureIsUnauthenticated) {
  std::string body = GitHubPush("refs/tags/v3.2.0", kTagObject).dump();
  HeaderMap headers = GitHubHeaders("push", body);

  headers["X-Hub-Signature-256"] = "sha256=" + HmacSha256Hex("guess", body);
  auto forged = ParseTagEvent(GitHost::kGitHub, headers, body, kSecret);
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(forged.error().message(), "X-Hub-Signature-256: signature mismatch");

  headers["X-Hub-Signature-256"] = HmacSha256Hex(kSecret, body);  // without "sha256="
  EXPECT_EQ(ParseTagEvent(GitHost::kGitHub, headers, body, kSecret).error().code(),
            ErrorCode::kUnauthenticated);

  headers.erase("X-Hub-Signature-256");
  headers["X-Hub-Signature"] = "sha1=0123";
  auto missing = ParseTagEvent(GitHost::kGitHub, headers, body, kSecret);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(missing.error().message(), "missing X-Hub-Signature-256 header");
}

TEST(GitHubTagEvent, TamperedBodyFailsTheSignature) {
  std::string body = GitHubPush("refs/tags/v3.2.0", kTagObject).dump();
  HeaderMap headers = GitHubHeaders("push", body);
  std::string tampered = GitHubPush("refs/tags/v9.9.9", kTagObject).dump();
  auto event = ParseTagEvent(GitHost::kGitHub, headers, tampered, kSecret);
  ASSERT_FALSE(event.ok());
  EXPECT_EQ(event.error().code(), ErrorCode::kUnauthenticated);
}

TEST(GitHubTagEvent, EmptySecretRefusesEveryDelivery) {
  std::string body = GitHubPush("refs/tags/v3.2.0", kTagObject).dump();
  HeaderMap headers = GitHubHeaders("push", body);
  headers["X-Hub-Signature-256"] = "sha256=" + HmacSha256Hex("", body);
  auto event = ParseTagEvent(GitHost::kGitHub, headers, body, "");
  ASSERT_FALSE(event.ok());
  EXPECT_EQ(event.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_THAT(event.error().message(), HasSubstr("no webhook secret"));
}

TEST(GitHubTagEvent, HeaderNamesAreCaseInsensitiveAndSignatureHexMayBeUpperCase) {
  std::string body = GitHubPush("refs/tags/v3.2.0", kTagObject).dump();
  std::string signature = HmacSha256Hex(kSecret, body);
  std::transform(signature.begin(), signature.end(), signature.begin(),
                 [](char c) { return static_cast<char>(std::toupper(c)); });
  HeaderMap headers = {{"x-github-event", "push"},
                       {"X-HUB-SIGNATURE-256", "sha256=" + signature},
                       {"x-github-delivery", "abc"}};
  auto event = ParseTagEvent(GitHost::kGitHub, headers, body, kSecret);
  ASSERT_TRUE(event.ok()) << event.error().message();
  EXPECT_EQ(event->delivery_id, "abc");
}

TEST(GitHubTagEvent, AnyHeaderSourceCanBeAdapted) {
  std::string body = GitHubPush("refs/tags/v3.2.0", kTagObject).dump();
  HeaderMap stored = GitHubHeaders("push", body);
  std::vector<std::string> asked;
  HeaderLookup lookup = [&](std::string_view name) -> std::optional<std::string> {
    asked.emplace_back(name);
    auto it = stored.find(name);
    if (it == stored.end()) return std::nullopt;
    return it->second;
  };
  auto event = ParseTagEvent(GitHost::kGitHub, lookup, body, kSecret);
  ASSERT_TRUE(event.ok()) << event.error().message();
  ASSERT_FALSE(asked.empty());
  EXPECT_EQ(asked.front(), "X-Hub-Signature-256");  // the signature comes first
}

TEST(GitHubTagEvent, PingIsPing) {
  std::string body =
      json{{"zen", "Design for failure."}, {"hook_id", 1}, {"repository", GitHubRepository()}}
          .dump();
  auto event = ParseTagEvent(GitHost::kGitHub, GitHubHeaders("ping", body), body, kSecret);
  ASSERT_TRUE(event.ok()) << event.error().message();
  EXPECT_EQ(event->kind, TagEventKind::kPing);
  EXPECT_EQ(event->tag, "");
  EXPECT_FALSE(event->repositories.empty());
}

TEST(GitHubTagEvent, DeletionIsTagDeleted) {
  json push = GitHubPush("refs/tags/v3.2.0", kZeros);
  push["deleted"] = true;
  push["created"] = false;
  push["head_commit"] = nullptr;
  std::string body = push.dump();
  auto event = ParseTagEvent(GitHost::kGitHub, GitHubHeaders("push", body), body, kSecret);
  ASSERT_TRUE(event.ok()) << event.error().message();
  EXPECT_EQ(event->kind, TagEventKind::kTagDeleted);
  EXPECT_EQ(event->tag, "v3.2.0");
  EXPECT_EQ(event->object_id, "");
}

TEST(GitHubTagEvent, BranchPushAndOtherEventsAreIgnored) {
  std::string body = GitHubPush("refs/heads/main", kCommit).dump();
  auto branch = ParseTagEvent(GitHost::kGitHub, GitHubHeaders("push", body), body, kSecret);
  ASSERT_TRUE(branch.ok()) << branch.error().message();
  EXPECT_EQ(branch->kind, TagEventKind::kIgnored);
  EXPECT_EQ(branch->detail, "branch push refs/heads/main");

  std::string issue = json{{"action", "opened"}, {"repository", GitHubRepository()}}.dump();
  auto other = ParseTagEvent(GitHost::kGitHub, GitHubHeaders("issues", issue), issue, kSecret);
  ASSERT_TRUE(other.ok()) << other.error().message();
  EXPECT_EQ(other->kind, TagEventKind::kIgnored);
  EXPECT_EQ(other->detail, "event issues");
}

TEST(GitHubTagEvent, CreateAndDeleteEventsOfTags) {
  json create = {{"ref", "v3.2.0"},
                 {"ref_type", "tag"},
                 {"master_branch", "main"},
                 {"pusher_type", "user"},
                 {"repository", GitHubRepository()}};
  std::string body = create.dump();
  auto created = ParseTagEvent(GitHost::kGitHub, GitHubHeaders("create", body), body, kSecret);
  ASSERT_TRUE(created.ok()) << created.error().message();
  EXPECT_EQ(created->kind, TagEventKind::kTagPushed);
  EXPECT_EQ(created->tag, "v3.2.0");
  EXPECT_EQ(created->object_id, "");

  body = json{{"ref", "v3.2.0"}, {"ref_type", "tag"}, {"repository", GitHubRepository()}}.dump();
  auto deleted = ParseTagEvent(GitHost::kGitHub, GitHubHeaders("delete", body), body, kSecret);
  ASSERT_TRUE(deleted.ok()) << deleted.error().message();
  EXPECT_EQ(deleted->kind, TagEventKind::kTagDeleted);

  body =
      json{{"ref", "feature"}, {"ref_type", "branch"}, {"repository", GitHubRepository()}}.dump();
  auto branch = ParseTagEvent(GitHost::kGitHub, GitHubHeaders("create", body), body, kSecret);
  ASSERT_TRUE(branch.ok()) << branch.error().message();
  EXPECT_EQ(branch->kind, TagEventKind::kIgnored);
}

TEST(GitHubTagEvent, SignatureIsCheckedBeforeTheBodyIsParsed) {
  std::string body = "{not json";
  HeaderMap headers = GitHubHeaders("push", body);
  auto malformed = ParseTagEvent(GitHost::kGitHub, headers, body, kSecret);
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.error().code(), ErrorCode::kBadRequest);
  EXPECT_THAT(malformed.error().message(), HasSubstr("malformed JSON"));

  headers["X-Hub-Signature-256"] = "sha256=" + std::string(64, '0');
  EXPECT_EQ(ParseTagEvent(GitHost::kGitHub, headers, body, kSecret).error().code(),
            ErrorCode::kUnauthenticated);
}

TEST(GitHubTagEvent, MissingFieldsAndHeadersAreBadRequests) {
  struct Case {
    const char* name;
    json body;
    const char* event;
    const char* message;
  };
  json no_ref = GitHubPush("refs/tags/v3.2.0", kTagObject);
  no_ref.erase("ref");
  json no_after = GitHubPush("refs/tags/v3.2.0", kTagObject);
  no_after.erase("after");
  json no_repository = GitHubPush("refs/tags/v3.2.0", kTagObject);
  no_repository.erase("repository");
  json numeric_ref = GitHubPush("refs/tags/v3.2.0", kTagObject);
  numeric_ref["ref"] = 3;
  json bad_tag = GitHubPush("refs/tags/v3..2", kTagObject);
  const Case cases[] = {
      {"no ref", no_ref, "push", "missing field \"ref\""},
      {"no after", no_after, "push", "missing field \"after\""},
      {"no repository", no_repository, "push", "missing field \"repository\""},
      {"numeric ref", numeric_ref, "push", "field \"ref\" must be a string, got number"},
      {"bad tag", bad_tag, "push", "is not a valid tag"},
      {"array body", json::array(), "push", "the body must be a JSON object"},
  };
  for (const Case& c : cases) {
    std::string body = c.body.dump();
    auto event = ParseTagEvent(GitHost::kGitHub, GitHubHeaders(c.event, body), body, kSecret);
    ASSERT_FALSE(event.ok()) << c.name;
    EXPECT_EQ(event.error().code(), ErrorCode::kBadRequest) << c.name;
    EXPECT_THAT(event.error().message(), HasSubstr(c.message)) << c.name;
  }

  std::string body = GitHubPush("refs/tags/v3.2.0", kTagObject).dump();
  HeaderMap headers = GitHubHeaders("push", body);
  headers.erase("X-GitHub-Event");
  auto no_event = ParseTagEvent(GitHost::kGitHub, headers, body, kSecret);
  ASSERT_FALSE(no_event.ok());
  EXPECT_EQ(no_event.error().code(), ErrorCode::kBadRequest);
  EXPECT_EQ(no_event.error().message(), "missing X-GitHub-Event header");
}

TEST(GitLabTagEvent, TagPushHookIsTagPushedWithItsCommit) {
  std::string body = GitLabTagPush(kTagObject, kCommit).dump();
  auto event =
      ParseTagEvent(GitHost::kGitLab, GitLabHeaders("Tag Push Hook", kSecret), body, kSecret);
  ASSERT_TRUE(event.ok()) << event.error().message();
  EXPECT_EQ(event->host, GitHost::kGitLab);
  EXPECT_EQ(event->kind, TagEventKind::kTagPushed);
  EXPECT_EQ(event->tag, "v3.2.0");
  EXPECT_EQ(event->commit, kCommit);
  EXPECT_EQ(event->object_id, kTagObject);
  EXPECT_EQ(event->delivery_id, "13792a34-cac6-4fda-95a8-c58e00a3954e");
  EXPECT_THAT(event->repositories,
              ElementsAre("https://gitlab.example.com/acme/orders.git",
                          "git@gitlab.example.com:acme/orders.git",
                          "https://gitlab.example.com/acme/orders", "acme/orders"));
}

TEST(GitLabTagEvent, IdempotencyKeyIsTheDeliveryIdWithoutAnEventUuid) {
  std::string body = GitLabTagPush(kTagObject, kCommit).dump();
  HeaderMap headers = GitLabHeaders("Tag Push Hook", kSecret);
  headers.erase("X-Gitlab-Event-UUID");
  headers["Idempotency-Key"] = "b5b0d7a1";
  auto event = ParseTagEvent(GitHost::kGitLab, headers, body, kSecret);
  ASSERT_TRUE(event.ok()) << event.error().message();
  EXPECT_EQ(event->delivery_id, "b5b0d7a1");
}

TEST(GitLabTagEvent, WrongOrMissingTokenIsUnauthenticated) {
  std::string body = GitLabTagPush(kTagObject, kCommit).dump();
  auto wrong =
      ParseTagEvent(GitHost::kGitLab, GitLabHeaders("Tag Push Hook", "s3cr3"), body, kSecret);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(wrong.error().message(), "X-Gitlab-Token: signature mismatch");

  HeaderMap headers = GitLabHeaders("Tag Push Hook", kSecret);
  headers.erase("X-Gitlab-Token");
  auto missing = ParseTagEvent(GitHost::kGitLab, headers, body, kSecret);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(missing.error().message(), "missing X-Gitlab-Token header");
}

TEST(GitLabTagEvent, ZeroAfterIsTagDeleted) {
  std::string body = GitLabTagPush(kZeros, nullptr).dump();
  auto event =
      ParseTagEvent(GitHost::kGitLab, GitLabHeaders("Tag Push Hook", kSecret), body, kSecret);
  ASSERT_TRUE(event.ok()) << event.error().message();
  EXPECT_EQ(event->kind, TagEventKind::kTagDeleted);
  EXPECT_EQ(event->tag, "v3.2.0");
  EXPECT_EQ(event->commit, "");
}

TEST(GitLabTagEvent, BranchPushesAndTestPayloadsAreIgnored) {
  json push = GitLabTagPush(kCommit, kCommit);
  push["object_kind"] = "push";
  push["ref"] = "refs/heads/main";
  std::string body = push.dump();
  auto branch = ParseTagEvent(GitHost::kGitLab, GitLabHeaders("Push Hook", kSecret), body, kSecret);
  ASSERT_TRUE(branch.ok()) << branch.error().message();
  EXPECT_EQ(branch->kind, TagEventKind::kIgnored);

  auto test_payload =
      ParseTagEvent(GitHost::kGitLab, GitLabHeaders("Tag Push Hook", kSecret), body, kSecret);
  ASSERT_TRUE(test_payload.ok()) << test_payload.error().message();
  EXPECT_EQ(test_payload->kind, TagEventKind::kIgnored);
  EXPECT_EQ(test_payload->detail, "object_kind push in a Tag Push Hook");
}

TEST(GitLabTagEvent, MissingFieldsAreBadRequests) {
  json no_checkout = GitLabTagPush(kTagObject, kCommit);
  no_checkout.erase("checkout_sha");
  json no_kind = GitLabTagPush(kTagObject, kCommit);
  no_kind.erase("object_kind");
  json no_project = GitLabTagPush(kTagObject, kCommit);
  no_project.erase("project");
  for (const auto& [doc, field] :
       {std::pair{no_checkout, "checkout_sha"}, std::pair{no_kind, "object_kind"},
        std::pair{no_project, "project"}}) {
    std::string body = doc.dump();
    auto event =
        ParseTagEvent(GitHost::kGitLab, GitLabHeaders("Tag Push Hook", kSecret), body, kSecret);
    ASSERT_FALSE(event.ok()) << field;
    EXPECT_EQ(event.error().code(), ErrorCode::kBadRequest);
    EXPECT_EQ(event.error().message(), "missing field \"" + std::string(field) + "\"");
  }
  auto malformed = ParseTagEvent(GitHost::kGitLab, GitLabHeaders("Tag Push Hook", kSecret),
                                 "{\"object_kind\":", kSecret);
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.error().code(), ErrorCode::kBadRequest);
}

TEST(GiteaTagEvent, TagPushIsTagPushed) {
  std::string body = GiteaPush("refs/tags/v3.2.0", kCommit).dump();
  auto event = ParseTagEvent(GitHost::kGitea, GiteaHeaders("push", body), body, kSecret);
  ASSERT_TRUE(event.ok()) << event.error().message();
  EXPECT_EQ(event->host, GitHost::kGitea);
  EXPECT_EQ(event->kind, TagEventKind::kTagPushed);
  EXPECT_EQ(event->tag, "v3.2.0");
  EXPECT_EQ(event->object_id, kCommit);
  EXPECT_EQ(event->delivery_id, "f6266f16-1bf3-46a5-9ea4-602e06ead473");
  EXPECT_THAT(
      event->repositories,
      ElementsAre("https://git.example.com/acme/orders.git", "https://git.example.com/acme/orders",
                  "git@git.example.com:acme/orders.git", "acme/orders"));
}

TEST(GiteaTagEvent, ForgejoHeadersAreAccepted) {
  std::string body = GiteaPush("refs/tags/v3.2.0", kCommit).dump();
  HeaderMap headers = {{"X-Forgejo-Event", "push"},
                       {"X-Forgejo-Delivery", "d1"},
                       {"X-Forgejo-Signature", HmacSha256Hex(kSecret, body)}};
  auto event = ParseTagEvent(GitHost::kGitea, headers, body, kSecret);
  ASSERT_TRUE(event.ok()) << event.error().message();
  EXPECT_EQ(event->delivery_id, "d1");
  EXPECT_EQ(event->kind, TagEventKind::kTagPushed);
}

TEST(GiteaTagEvent, WrongForgejoSignatureIsNotRescuedByTheGiteaOne) {
  std::string body = GiteaPush("refs/tags/v3.2.0", kCommit).dump();
  HeaderMap headers = GiteaHeaders("push", body);
  headers["X-Forgejo-Signature"] = HmacSha256Hex("guess", body);
  auto event = ParseTagEvent(GitHost::kGitea, headers, body, kSecret);
  ASSERT_FALSE(event.ok());
  EXPECT_EQ(event.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(event.error().message(), "X-Forgejo-Signature: signature mismatch");
}

TEST(GiteaTagEvent, ForgedOrMissingSignatureIsUnauthenticated) {
  std::string body = GiteaPush("refs/tags/v3.2.0", kCommit).dump();
  HeaderMap headers = GiteaHeaders("push", body);
  headers["X-Gitea-Signature"] = "sha256=" + HmacSha256Hex(kSecret, body);  // GitHub's form
  auto forged = ParseTagEvent(GitHost::kGitea, headers, body, kSecret);
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().message(), "X-Gitea-Signature: signature mismatch");

  headers.erase("X-Gitea-Signature");
  headers["X-Hub-Signature-256"] = "sha256=" + HmacSha256Hex(kSecret, body);
  auto missing = ParseTagEvent(GitHost::kGitea, headers, body, kSecret);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_THAT(missing.error().message(), HasSubstr("missing X-Gitea-Signature header"));
}

TEST(GiteaTagEvent, CreateDeleteAndBranchPushes) {
  std::string body = json{{"sha", kCommit},
                          {"ref", "v3.2.0"},
                          {"ref_type", "tag"},
                          {"repository", GitHubRepository()}}
                         .dump();
  auto created = ParseTagEvent(GitHost::kGitea, GiteaHeaders("create", body), body, kSecret);
  ASSERT_TRUE(created.ok()) << created.error().message();
  EXPECT_EQ(created->kind, TagEventKind::kTagPushed);
  EXPECT_EQ(created->tag, "v3.2.0");

  body = json{{"ref", "v3.2.0"},
              {"ref_type", "tag"},
              {"pusher_type", "user"},
              {"repository", GitHubRepository()}}
             .dump();
  auto deleted = ParseTagEvent(GitHost::kGitea, GiteaHeaders("delete", body), body, kSecret);
  ASSERT_TRUE(deleted.ok()) << deleted.error().message();
  EXPECT_EQ(deleted->kind, TagEventKind::kTagDeleted);

  body = GiteaPush("refs/heads/main", kCommit).dump();
  auto branch = ParseTagEvent(GitHost::kGitea, GiteaHeaders("push", body), body, kSecret);
  ASSERT_TRUE(branch.ok()) << branch.error().message();
  EXPECT_EQ(branch->kind, TagEventKind::kIgnored);
}

TEST(DetectGitHost, GiteaWinsOverItsGitHubCompatibilityHeaders) {
  EXPECT_EQ(DetectGitHost(GiteaHeaders("push", "")), GitHost::kGitea);
  EXPECT_EQ(DetectGitHost(HeaderMap{{"X-Forgejo-Event", "push"}}), GitHost::kGitea);
  EXPECT_EQ(DetectGitHost(GitLabHeaders("Tag Push Hook", kSecret)), GitHost::kGitLab);
  EXPECT_EQ(DetectGitHost(GitHubHeaders("push", "")), GitHost::kGitHub);
  EXPECT_EQ(DetectGitHost(HeaderMap{{"Content-Type", "application/json"}}), std::nullopt);
}

TEST(RepositoryIds, UrlsOfOneRepositoryNormaliseAlike) {
  for (const char* id :
       {"https://github.com/Acme/orders.git", "https://token@github.com/acme/orders/",
        "git@github.com:acme/orders.git", "ssh://git@github.com:22/acme/orders.git",
        "git://github.com/acme/orders", "github.com/acme/orders"}) {
    EXPECT_EQ(NormalizeRepositoryId(id), "github.com/acme/orders") << id;
  }
  EXPECT_EQ(NormalizeRepositoryId("acme/orders"), "acme/orders");
  EXPECT_EQ(NormalizeRepositoryId("file:///srv/git/orders.git"), "/srv/git/orders");
  EXPECT_EQ(NormalizeRepositoryId("/srv/git/orders.git"), "/srv/git/orders");
}

TEST(RepositoryIds, ConfiguredRepositoryMatchesAnyIdOfTheEvent) {
  std::string body = GitHubPush("refs/tags/v3.2.0", kTagObject).dump();
  auto event = ParseTagEvent(GitHost::kGitHub, GitHubHeaders("push", body), body, kSecret);
  ASSERT_TRUE(event.ok());
  EXPECT_TRUE(RefersToRepository(*event, "https://github.com/acme/orders"));
  EXPECT_TRUE(RefersToRepository(*event, "git@github.com:acme/orders.git"));
  EXPECT_TRUE(RefersToRepository(*event, "acme/orders"));
  EXPECT_FALSE(RefersToRepository(*event, "https://github.com/acme/orders-ui"));
  EXPECT_FALSE(RefersToRepository(*event, "https://gitlab.com/acme/orders"));
  EXPECT_FALSE(RefersToRepository(*event, ""));
}

}  // namespace
}  // namespace shipd
