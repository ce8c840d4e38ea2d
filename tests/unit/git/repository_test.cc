#include "shipd/git/repository.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace shipd {
namespace {

namespace fs = std::filesystem;

constexpr char kShipYaml[] = R"(service: orders
artifact: registry.example.com/orders:{{version}}
provides:
  - api: orders
    version: 3.1.0
    spec: api/openapi.yaml
requires:
  - api: billing
    range: ^2.1
)";

constexpr char kOpenApi[] = R"(openapi: 3.0.3
info: {title: orders, version: 3.1.0}
paths: {}
)";

struct CommandResult {
  int status = -1;
  std::string output;
};

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "shipd-git-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A working repository driven with the git CLI, standing in for the remote.
class Upstream {
 public:
  explicit Upstream(fs::path dir) : dir_(std::move(dir)) {
    fs::create_directories(dir_);
    Git("init -q -b main");
  }

  const fs::path& dir() const { return dir_; }

  void Write(const std::string& path, const std::string& content) {
    fs::create_directories((dir_ / path).parent_path());
    std::ofstream(dir_ / path, std::ios::binary) << content;
  }

  std::string Commit(const std::string& message) {
    Git("add -A");
    Git("commit -q --allow-empty -m '" + message + "'");
    return Git("rev-parse HEAD");
  }

  // Git output, trimmed; a failing command fails the test.
  std::string Git(const std::string& args) {
    CommandResult result = RunCommand(
        "GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git -C '" + dir_.string() +
        "' -c user.name=shipd-test -c user.email=test@example.com -c commit.gpgsign=false"
        " -c tag.gpgsign=false " +
        args);
    EXPECT_EQ(result.status, 0) << "git " << args << ": " << result.output;
    while (!result.output.empty() &&
           std::isspace(static_cast<unsigned char>(result.output.back()))) {
      result.output.pop_back();
    }
    return result.output;
  }

 private:
  fs::path dir_;
};

// Answers every HTTP request with 401, as a host does for a private repository.
class UnauthorizedHttpServer {
 public:
  UnauthorizedHttpServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    listen(listen_fd_, 8);
    socklen_t size = sizeof(address);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~UnauthorizedHttpServer() {
    shutdown(listen_fd_, SHUT_RDWR);  // unblocks accept()
    thread_.join();
    close(listen_fd_);
  }
  int port() const { return port_; }

 private:
  void Serve() {
    while (true) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      std::string request;
      char buffer[1024];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<size_t>(n));
      }
      constexpr char kResponse[] =
          "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\n"
          "Content-Length: 0\r\nConnection: close\r\n\r\n";
      send(fd, kResponse, sizeof(kResponse) - 1, MSG_NOSIGNAL);
      close(fd);
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

class MirrorTest : public ::testing::Test {
 protected:
  MirrorTest() : upstream_(temp_.path() / "upstream") {}

  // The service at v3.1.0: ship.yaml and its OpenAPI document.
  std::string CommitOrders() {
    upstream_.Write("ship.yaml", kShipYaml);
    upstream_.Write("api/openapi.yaml", kOpenApi);
    return upstream_.Commit("orders");
  }

  std::unique_ptr<GitMirror> OpenAndFetch(const std::string& url) {
    auto mirror = OpenMirror(url, mirror_dir_);
    if (!mirror.ok()) {
      ADD_FAILURE() << mirror.error().message();
      return nullptr;
    }
    if (auto fetched = (*mirror)->FetchTags(); !fetched.ok()) {
      ADD_FAILURE() << fetched.error().message();
      return nullptr;
    }
    return std::move(mirror).value();
  }

  std::unique_ptr<GitMirror> OpenAndFetch() { return OpenAndFetch(upstream_.dir().string()); }

  TempDir temp_;
  Upstream upstream_;
  fs::path mirror_dir_ = temp_.path() / "data" / "mirrors" / "orders.git";
};

TEST(TagPattern, DefaultIsVPrefixedSemver) {
  TagPattern pattern;
  EXPECT_EQ(pattern.text(), "v{version}");
  auto version = pattern.Match("v3.2.0-rc.1");
  ASSERT_TRUE(version.ok()) << version.error().message();
  EXPECT_EQ(version->ToString(), "3.2.0-rc.1");
}

TEST(TagPattern, PrefixAndSuffixAroundThePlaceholder) {
  auto pattern = TagPattern::Parse("release-{version}-final");
  ASSERT_TRUE(pattern.ok());
  auto version = pattern->Match("release-1.4.0-final");
  ASSERT_TRUE(version.ok()) << version.error().message();
  EXPECT_EQ(version->ToString(), "1.4.0");
  EXPECT_FALSE(pattern->Match("v1.4.0").ok());
}

TEST(TagPattern, PatternNeedsExactlyOnePlaceholder) {
  EXPECT_EQ(TagPattern::Parse("v").error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(TagPattern::Parse("{version}-{version}").error().code(), ErrorCode::kInvalid);
  EXPECT_TRUE(TagPattern::Parse("{version}").ok());
}

TEST(TagPattern, NonMatchingAndNonSemverTagsAreInvalid) {
  TagPattern pattern;
  for (const char* tag : {"v1.2", "vv1.2.3", "vnext", "v", "1.2.3", "release-1.2.3", "v01.2.3"}) {
    auto version = pattern.Match(tag);
    ASSERT_FALSE(version.ok()) << tag;
    EXPECT_EQ(version.error().code(), ErrorCode::kInvalid) << tag;
    EXPECT_NE(version.error().message().find(tag), std::string::npos) << version.error().message();
  }
}

TEST_F(MirrorTest, CreatesABareMirrorAndReopensIt) {
  CommitOrders();
  upstream_.Git("tag v3.1.0");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);
  EXPECT_TRUE(fs::exists(mirror_dir_ / "HEAD"));
  EXPECT_FALSE(fs::exists(mirror_dir_ / ".git"));
  // The git CLI sees an ordinary mirror of the tags.
  CommandResult config =
      RunCommand("git --git-dir='" + mirror_dir_.string() + "' config --get-regexp '^remote'");
  EXPECT_EQ(config.output, "remote.origin.url " + upstream_.dir().string() +
                               "\nremote.origin.fetch +refs/tags/*:refs/tags/*\n");
  mirror.reset();

  auto reopened = OpenMirror(upstream_.dir().string(), mirror_dir_);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message();
  auto tags = (*reopened)->ListTags();
  ASSERT_TRUE(tags.ok()) << tags.error().message();
  ASSERT_EQ(tags->size(), 1u);
  EXPECT_EQ((*tags)[0].name, "v3.1.0");
}

TEST_F(MirrorTest, AnnotatedTagsArePeeledToTheirCommit) {
  std::string first = CommitOrders();
  upstream_.Git("tag v3.1.0");
  upstream_.Write("README", "second\n");
  std::string second = upstream_.Commit("second");
  upstream_.Git("tag -a v3.2.0 -m 'release 3.2.0'");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);

  auto lightweight = mirror->ResolveTag("v3.1.0");
  ASSERT_TRUE(lightweight.ok()) << lightweight.error().message();
  EXPECT_FALSE(lightweight->annotated);
  EXPECT_EQ(lightweight->commit, first);
  EXPECT_EQ(lightweight->object_id, first);

  auto annotated = mirror->ResolveTag("v3.2.0");
  ASSERT_TRUE(annotated.ok()) << annotated.error().message();
  EXPECT_TRUE(annotated->annotated);
  EXPECT_EQ(annotated->commit, second);
  EXPECT_EQ(annotated->object_id, upstream_.Git("rev-parse v3.2.0"));
  EXPECT_NE(annotated->object_id, annotated->commit);

  auto tags = mirror->ListTags();
  ASSERT_TRUE(tags.ok()) << tags.error().message();
  ASSERT_EQ(tags->size(), 2u);
  EXPECT_EQ((*tags)[0].name, "v3.1.0");
  EXPECT_EQ((*tags)[1].name, "v3.2.0");
  EXPECT_EQ((*tags)[1].commit, second);
}

TEST_F(MirrorTest, ReadsTheVersionAtATagWithItsSpecInlined) {
  std::string commit = CommitOrders();
  upstream_.Git("tag -a v3.1.0 -m release");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);
  auto tag = mirror->ResolveTag("v3.1.0");
  ASSERT_TRUE(tag.ok());

  auto version = ReadVersionAtTag(*mirror, "orders", *tag, TagPattern());
  ASSERT_TRUE(version.ok()) << version.error().message();
  EXPECT_EQ(version->service, "orders");
  EXPECT_EQ(version->version.ToString(), "3.1.0");
  EXPECT_EQ(version->commit, commit);
  EXPECT_EQ(version->tag, "v3.1.0");
  EXPECT_EQ(version->artifact, "registry.example.com/orders:{{version}}");
  ASSERT_EQ(version->provides.size(), 1u);
  EXPECT_NE(version->provides[0].spec.find("\"openapi\":\"3.0.3\""), std::string::npos)
      << version->provides[0].spec;
  ASSERT_EQ(version->requires_.size(), 1u);
  EXPECT_EQ(version->requires_[0].api, "billing");
  EXPECT_EQ(version->content_hash.size(), 64u);
}

TEST_F(MirrorTest, ReadsTheVersionWithAReleasePattern) {
  CommitOrders();
  upstream_.Git("tag release-3.1.0");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);
  auto tag = mirror->ResolveTag("release-3.1.0");
  ASSERT_TRUE(tag.ok());
  auto pattern = TagPattern::Parse("release-{version}");
  ASSERT_TRUE(pattern.ok());

  auto version = ReadVersionAtTag(*mirror, "orders", *tag, *pattern);
  ASSERT_TRUE(version.ok()) << version.error().message();
  EXPECT_EQ(version->version.ToString(), "3.1.0");
  EXPECT_EQ(ReadVersionAtTag(*mirror, "orders", *tag, TagPattern()).error().code(),
            ErrorCode::kInvalid);
}

TEST_F(MirrorTest, NonSemverTagIsInvalidBeforeAnythingIsRead) {
  CommitOrders();
  upstream_.Git("tag v-next");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);
  auto tag = mirror->ResolveTag("v-next");
  ASSERT_TRUE(tag.ok());
  auto version = ReadVersionAtTag(*mirror, "orders", *tag, TagPattern());
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(version.error().message().rfind("orders: tag \"v-next\"", 0), 0u)
      << version.error().message();
}

TEST_F(MirrorTest, InvalidShipYamlIsInvalidWithContext) {
  upstream_.Write("ship.yaml", "service: orders\nrequires:\n  - api: billing\n    range: banana\n");
  upstream_.Commit("bad range");
  upstream_.Git("tag v3.2.0");
  upstream_.Write("ship.yaml", "service: orders\nprovides: [\n");
  upstream_.Commit("malformed");
  upstream_.Git("tag v3.3.0");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);

  auto bad_range = ReadVersionAtTag(*mirror, "orders", *mirror->ResolveTag("v3.2.0"), TagPattern());
  ASSERT_FALSE(bad_range.ok());
  EXPECT_EQ(bad_range.error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(bad_range.error().message().rfind("orders v3.2.0: ship.yaml: requires[0].range", 0), 0u)
      << bad_range.error().message();

  auto malformed = ReadVersionAtTag(*mirror, "orders", *mirror->ResolveTag("v3.3.0"), TagPattern());
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(malformed.error().message().rfind("orders v3.3.0: ship.yaml: malformed YAML: line", 0),
            0u)
      << malformed.error().message();
}

TEST_F(MirrorTest, ServiceNamedByTheManifestMustBeTheCallersService) {
  CommitOrders();
  upstream_.Git("tag v3.1.0");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);
  auto version = ReadVersionAtTag(*mirror, "billing", *mirror->ResolveTag("v3.1.0"), TagPattern());
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.error().code(), ErrorCode::kInvalid);
  EXPECT_NE(version.error().message().find("billing v3.1.0: ship.yaml: service"), std::string::npos)
      << version.error().message();
}

TEST_F(MirrorTest, MissingManifestOrSpecFileIsInvalidAndNamed) {
  upstream_.Write("README", "no manifest\n");
  upstream_.Commit("empty");
  upstream_.Git("tag v1.0.0");
  upstream_.Write("ship.yaml", kShipYaml);
  upstream_.Commit("manifest without its spec");
  upstream_.Git("tag v1.1.0");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);

  auto no_manifest =
      ReadVersionAtTag(*mirror, "orders", *mirror->ResolveTag("v1.0.0"), TagPattern());
  ASSERT_FALSE(no_manifest.ok());
  EXPECT_EQ(no_manifest.error().code(), ErrorCode::kInvalid);
  EXPECT_NE(no_manifest.error().message().find("orders v1.0.0: ship.yaml: not found"),
            std::string::npos)
      << no_manifest.error().message();

  auto no_spec = ReadVersionAtTag(*mirror, "orders", *mirror->ResolveTag("v1.1.0"), TagPattern());
  ASSERT_FALSE(no_spec.ok());
  EXPECT_EQ(no_spec.error().code(), ErrorCode::kInvalid);
  EXPECT_NE(no_spec.error().message().find(
                "orders v1.1.0: ship.yaml: provides[0].spec: api/openapi.yaml not found"),
            std::string::npos)
      << no_spec.error().message();
}

TEST_F(MirrorTest, SpecPathsAreRelativeToTheManifestAndStayInTheTree) {
  upstream_.Write("api/openapi.yaml", kOpenApi);
  upstream_.Write("deploy/ship.yaml",
                  "service: orders\nprovides:\n  - api: orders\n    version: 3.1.0\n"
                  "    spec: ../api/openapi.yaml\n");
  upstream_.Commit("manifest in a subdirectory");
  upstream_.Git("tag v3.1.0");
  upstream_.Write("deploy/ship.yaml",
                  "service: orders\nprovides:\n  - api: orders\n    version: 3.1.0\n"
                  "    spec: ../../etc/passwd\n");
  upstream_.Commit("escaping spec");
  upstream_.Git("tag v3.1.1");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);

  auto version = ReadVersionAtTag(*mirror, "orders", *mirror->ResolveTag("v3.1.0"), TagPattern(),
                                  "deploy/ship.yaml");
  ASSERT_TRUE(version.ok()) << version.error().message();
  ASSERT_EQ(version->provides.size(), 1u);
  EXPECT_FALSE(version->provides[0].spec.empty());

  auto escaping = ReadVersionAtTag(*mirror, "orders", *mirror->ResolveTag("v3.1.1"), TagPattern(),
                                   "deploy/ship.yaml");
  ASSERT_FALSE(escaping.ok());
  EXPECT_EQ(escaping.error().code(), ErrorCode::kInvalid);
  EXPECT_NE(escaping.error().message().find("provides[0].spec: path"), std::string::npos)
      << escaping.error().message();
  EXPECT_NE(escaping.error().message().find("escapes the repository"), std::string::npos);
}

TEST_F(MirrorTest, ReadFileRefusesEscapesDirectoriesAndLinks) {
  std::string commit = CommitOrders();
  upstream_.Git("tag v3.1.0");
  fs::create_symlink("/etc/passwd", upstream_.dir() / "passwd");
  commit = upstream_.Commit("a link");
  upstream_.Git("tag v3.1.1");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);

  for (const char* path : {"../ship.yaml", "/etc/passwd", "api/../../ship.yaml", "", "."}) {
    auto content = mirror->ReadFile(commit, path);
    ASSERT_FALSE(content.ok()) << path;
    EXPECT_EQ(content.error().code(), ErrorCode::kInvalid) << path;
  }
  auto link = mirror->ReadFile(commit, "passwd");
  ASSERT_FALSE(link.ok());
  EXPECT_NE(link.error().message().find("symbolic link"), std::string::npos);
  auto directory = mirror->ReadFile(commit, "api");
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.error().message().find("directory"), std::string::npos);

  auto dotted = mirror->ReadFile(commit, "./api/../ship.yaml");
  ASSERT_TRUE(dotted.ok()) << dotted.error().message();
  ASSERT_TRUE(dotted->has_value());
  EXPECT_EQ(**dotted, kShipYaml);
  auto absent = mirror->ReadFile(commit, "api/missing.yaml");
  ASSERT_TRUE(absent.ok()) << absent.error().message();
  EXPECT_FALSE(absent->has_value());
  auto below_a_file = mirror->ReadFile(commit, "ship.yaml/x");
  ASSERT_TRUE(below_a_file.ok()) << below_a_file.error().message();
  EXPECT_FALSE(below_a_file->has_value());
}

TEST_F(MirrorTest, ReadFileRefusesUnknownOrMalformedCommits) {
  CommitOrders();
  upstream_.Git("tag v3.1.0");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);
  EXPECT_EQ(mirror->ReadFile("abc123", "ship.yaml").error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(mirror->ReadFile(std::string(40, 'a'), "ship.yaml").error().code(),
            ErrorCode::kNotFound);
}

TEST_F(MirrorTest, ReadFileRefusesFilesOverTheSizeLimit) {
  CommitOrders();
  upstream_.Write("big.bin", std::string(kMaxRepositoryFileBytes + 1, 'x'));
  upstream_.Write("limit.bin", std::string(kMaxRepositoryFileBytes, 'x'));
  std::string commit = upstream_.Commit("big");
  upstream_.Git("tag v3.1.0");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);
  auto big = mirror->ReadFile(commit, "big.bin");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), ErrorCode::kTooLarge);
  EXPECT_NE(big.error().message().find("big.bin is 5242881 bytes"), std::string::npos)
      << big.error().message();
  auto at_limit = mirror->ReadFile(commit, "limit.bin");
  ASSERT_TRUE(at_limit.ok()) << at_limit.error().message();
  EXPECT_EQ((*at_limit)->size(), kMaxRepositoryFileBytes);
}

TEST_F(MirrorTest, MovedTagIsSeenMovedAfterTheNextFetch) {
  std::string first = CommitOrders();
  upstream_.Git("tag -a v3.1.0 -m first");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);
  EXPECT_EQ(mirror->ResolveTag("v3.1.0")->commit, first);

  upstream_.Write("README", "fixed\n");
  std::string second = upstream_.Commit("fix");
  upstream_.Git("tag -d v3.1.0");
  upstream_.Git("tag -a v3.1.0 -m again");
  ASSERT_TRUE(mirror->FetchTags().ok());
  auto moved = mirror->ResolveTag("v3.1.0");
  ASSERT_TRUE(moved.ok()) << moved.error().message();
  EXPECT_EQ(moved->commit, second);
  EXPECT_EQ(moved->object_id, upstream_.Git("rev-parse v3.1.0"));
  auto version = ReadVersionAtTag(*mirror, "orders", *moved, TagPattern());
  ASSERT_TRUE(version.ok()) << version.error().message();
  EXPECT_EQ(version->commit, second);
}

TEST_F(MirrorTest, DeletedTagIsGoneAfterTheNextFetch) {
  CommitOrders();
  upstream_.Git("tag v3.1.0");
  upstream_.Git("tag v3.1.1");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);
  ASSERT_TRUE(mirror->ResolveTag("v3.1.1").ok());

  upstream_.Git("tag -d v3.1.1");
  ASSERT_TRUE(mirror->FetchTags().ok());
  auto deleted = mirror->ResolveTag("v3.1.1");
  ASSERT_FALSE(deleted.ok());
  EXPECT_EQ(deleted.error().code(), ErrorCode::kNotFound);
  auto tags = mirror->ListTags();
  ASSERT_TRUE(tags.ok());
  ASSERT_EQ(tags->size(), 1u);
  EXPECT_EQ((*tags)[0].name, "v3.1.0");
}

TEST_F(MirrorTest, TagsThatDoNotLeadToACommitAreLeftOut) {
  CommitOrders();
  upstream_.Git("tag v3.1.0");
  upstream_.Git("tag tree-tag HEAD^{tree}");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);
  auto tags = mirror->ListTags();
  ASSERT_TRUE(tags.ok()) << tags.error().message();
  ASSERT_EQ(tags->size(), 1u);
  EXPECT_EQ(mirror->ResolveTag("tree-tag").error().code(), ErrorCode::kInvalid);
}

TEST_F(MirrorTest, ResolveTagRejectsBadNamesAndReportsUnknownOnes) {
  CommitOrders();
  upstream_.Git("tag v3.1.0");
  auto mirror = OpenAndFetch();
  ASSERT_NE(mirror, nullptr);
  for (const char* name : {"", "bad..name", "a b", "x.lock", "v1^{}"}) {
    EXPECT_EQ(mirror->ResolveTag(name).error().code(), ErrorCode::kInvalid) << name;
  }
  auto unknown = mirror->ResolveTag("v9.9.9");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(unknown.error().message().find("v9.9.9"), std::string::npos);
}

TEST_F(MirrorTest, FileUrlsAndPlainPathsBothWork) {
  CommitOrders();
  upstream_.Git("tag v3.1.0");
  for (const std::string& url : {"file://" + upstream_.dir().string(), upstream_.dir().string(),
                                 fs::relative(upstream_.dir(), fs::current_path()).string()}) {
    fs::remove_all(mirror_dir_);
    auto mirror = OpenAndFetch(url);
    ASSERT_NE(mirror, nullptr) << url;
    EXPECT_TRUE(mirror->ResolveTag("v3.1.0").ok()) << url;
    EXPECT_TRUE(fs::path(mirror->url()).is_absolute() || mirror->url().starts_with("file://"))
        << mirror->url();
  }
}

TEST_F(MirrorTest, ReopeningWithAnotherUrlRepointsTheMirror) {
  CommitOrders();
  upstream_.Git("tag v3.1.0");
  ASSERT_NE(OpenAndFetch(), nullptr);

  Upstream other(temp_.path() / "other");
  other.Write("ship.yaml", kShipYaml);
  other.Commit("other");
  other.Git("tag v9.0.0");
  auto mirror = OpenAndFetch(other.dir().string());
  ASSERT_NE(mirror, nullptr);
  EXPECT_EQ(mirror->url(), other.dir().string());
  auto tags = mirror->ListTags();
  ASSERT_TRUE(tags.ok());
  ASSERT_EQ(tags->size(), 1u);
  EXPECT_EQ((*tags)[0].name, "v9.0.0");
}

TEST_F(MirrorTest, DirectoryThatIsNotAMirrorIsAConflict) {
  fs::create_directories(mirror_dir_);
  std::ofstream(mirror_dir_ / "notes.txt") << "mine\n";
  auto mirror = OpenMirror(upstream_.dir().string(), mirror_dir_);
  ASSERT_FALSE(mirror.ok());
  EXPECT_EQ(mirror.error().code(), ErrorCode::kConflict);
}

TEST_F(MirrorTest, UnreachableOrMissingRemoteIsUnavailable) {
  for (const std::string& url : {std::string("http://127.0.0.1:1/orders.git"),
                                 "file://" + (temp_.path() / "nope").string()}) {
    fs::remove_all(mirror_dir_);
    auto mirror = OpenMirror(url, mirror_dir_);
    ASSERT_TRUE(mirror.ok()) << mirror.error().message();
    auto fetched = (*mirror)->FetchTags();
    ASSERT_FALSE(fetched.ok()) << url;
    EXPECT_EQ(fetched.error().code(), ErrorCode::kUnavailable) << fetched.error().message();
    EXPECT_NE(fetched.error().message().find(url), std::string::npos) << fetched.error().message();
  }
}

TEST_F(MirrorTest, RemoteAskingForCredentialsIsPermissionDenied) {
  UnauthorizedHttpServer server;
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/acme/orders.git";
  auto mirror = OpenMirror(url, mirror_dir_);
  ASSERT_TRUE(mirror.ok()) << mirror.error().message();
  auto fetched = (*mirror)->FetchTags();
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(fetched.error().message().find("requires authentication"), std::string::npos)
      << fetched.error().message();
  EXPECT_NE(fetched.error().message().find("no git credentials"), std::string::npos);
}

}  // namespace
}  // namespace shipd
