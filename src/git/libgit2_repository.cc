// The libgit2 GitMirror, the tag pattern, and reading a Version at a tag.

#include <git2.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <system_error>
#include <utility>

#include "shipd/common/yaml_json.h"
#include "shipd/git/repository.h"
#include "shipd/model/manifest.h"

namespace shipd {
namespace {

namespace fs = std::filesystem;

constexpr char kRemoteName[] = "origin";
// Forced ("+"), so a tag moved on the remote moves here too.
constexpr char kTagRefspec[] = "+refs/tags/*:refs/tags/*";
constexpr std::string_view kTagsPrefix = "refs/tags/";

// libgit2 keeps global state (allocators, TLS, the SSL library). It is initialised on first use
// through a function-local static, which C++ initialises exactly once even when threads race, and
// is never shut down: mirrors destroyed by static destructors would otherwise outlive it.
int InitLibgit2Once() {
  static const int result = git_libgit2_init();
  return result;
}

// Owning pointers for libgit2 objects, each freed with its own function.
template <auto Free>
struct FreeWith {
  template <typename T>
  void operator()(T* object) const {
    Free(object);
  }
};
using RepositoryPtr = std::unique_ptr<git_repository, FreeWith<git_repository_free>>;
using RemotePtr = std::unique_ptr<git_remote, FreeWith<git_remote_free>>;
using ConfigPtr = std::unique_ptr<git_config, FreeWith<git_config_free>>;
using OdbPtr = std::unique_ptr<git_odb, FreeWith<git_odb_free>>;
using ReferencePtr = std::unique_ptr<git_reference, FreeWith<git_reference_free>>;
using ReferenceIteratorPtr =
    std::unique_ptr<git_reference_iterator, FreeWith<git_reference_iterator_free>>;
using ObjectPtr = std::unique_ptr<git_object, FreeWith<git_object_free>>;
using CommitPtr = std::unique_ptr<git_commit, FreeWith<git_commit_free>>;
using TreePtr = std::unique_ptr<git_tree, FreeWith<git_tree_free>>;
using TreeEntryPtr = std::unique_ptr<git_tree_entry, FreeWith<git_tree_entry_free>>;
using BlobPtr = std::unique_ptr<git_blob, FreeWith<git_blob_free>>;

// libgit2 keeps the last error per thread.
std::string LastGitMessage(int code) {
  const git_error* error = git_error_last();
  if (error != nullptr && error->message != nullptr && error->message[0] != '\0') {
    return error->message;
  }
  return "libgit2 error " + std::to_string(code);
}

Error GitError(ErrorCode code, int git_code, std::string_view what) {
  return Error(code, std::string(what) + ": " + LastGitMessage(git_code));
}

std::string OidHex(const git_oid* oid) {
  char buffer[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buffer, sizeof(buffer), oid);
  return buffer;
}

std::string ShortId(std::string_view id) { return std::string(id.substr(0, 12)); }

std::string Quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

// A URL with neither a scheme nor scp-like "host:" before its first slash is a local path.
bool IsLocalPath(std::string_view url) {
  if (url.find("://") != std::string_view::npos) return false;
  size_t colon = url.find(':');
  size_t slash = url.find('/');
  return colon == std::string_view::npos || (slash != std::string_view::npos && slash < colon);
}

// Resolves "." and ".." in a repository path, refusing any that leaves the tree.
Result<std::string> NormalizeTreePath(std::string_view path) {
  if (path.empty()) return Error(ErrorCode::kInvalid, "the path is empty");
  if (path.front() == '/') {
    return Error(ErrorCode::kInvalid,
                 "path " + Quoted(path) + " must be relative to the repository root");
  }
  if (path.find('\0') != std::string_view::npos) {
    return Error(ErrorCode::kInvalid, "the path contains a NUL character");
  }
  std::vector<std::string_view> parts;
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = std::min(path.find('/', begin), path.size());
    std::string_view part = path.substr(begin, end - begin);
    begin = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) {
        return Error(ErrorCode::kInvalid, "path " + Quoted(path) + " escapes the repository");
      }
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  if (parts.empty()) {
    return Error(ErrorCode::kInvalid, "path " + Quoted(path) + " names the repository root");
  }
  std::string out;
  for (std::string_view part : parts) {
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

bool IsFullHexId(std::string_view id) {
  return id.size() == GIT_OID_HEXSZ &&
         std::all_of(id.begin(), id.end(), [](char c) { return std::isxdigit(c) != 0; });
}

struct FetchState {
  bool credentials_requested = false;
};

// No credentials are configured yet: refuse every request for them, and remember that one came so
// the error says so instead of a transport-specific message.
int RefuseCredentials(git_credential** /*out*/, const char* /*url*/,
                      const char* /*username_from_url*/, unsigned int /*allowed_types*/,
                      void* payload) {
  static_cast<FetchState*>(payload)->credentials_requested = true;
  git_error_set_str(GIT_ERROR_NET, "the remote requires authentication");
  return GIT_EAUTH;
}

class Libgit2Mirror final : public GitMirror {
 public:
  Libgit2Mirror(std::string url, RepositoryPtr repository, RemotePtr remote, OdbPtr odb)
      : url_(std::move(url)),
        repository_(std::move(repository)),
        remote_(std::move(remote)),
        odb_(std::move(odb)) {}

  const std::string& url() const override { return url_; }

  Status FetchTags() override {
    FetchState state;
    git_fetch_options options;
    git_fetch_options_init(&options, GIT_FETCH_OPTIONS_VERSION);
    options.prune = GIT_FETCH_PRUNE;
    options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;  // the refspec already names them all
    options.update_fetchhead = 0;
    options.callbacks.credentials = RefuseCredentials;
    options.callbacks.payload = &state;
    // Connecting first tells a remote that cannot be reached from a failure after it answered;
    // git_remote_fetch reuses the open connection.
    int rc = git_remote_connect(remote_.get(), GIT_DIRECTION_FETCH, &options.callbacks,
                                &options.proxy_opts, nullptr);
    if (rc < 0) return FetchError(rc, state, /*connected=*/false);
    rc = git_remote_fetch(remote_.get(), nullptr, &options, "shipd: fetch tags");
    if (rc < 0) return FetchError(rc, state, /*connected=*/true);
    return Ok();
  }

  Result<std::vector<TagInfo>> ListTags() override {
    git_reference_iterator* raw_iterator = nullptr;
    int rc = git_reference_iterator_new(&raw_iterator, repository_.get());
    if (rc < 0) return GitError(ErrorCode::kIo, rc, "listing tags");
    ReferenceIteratorPtr iterator(raw_iterator);
    std::vector<TagInfo> tags;
    while (true) {
      git_reference* raw_reference = nullptr;
      rc = git_reference_next(&raw_reference, iterator.get());
      if (rc == GIT_ITEROVER) break;
      if (rc < 0) return GitError(ErrorCode::kIo, rc, "listing tags");
      ReferencePtr reference(raw_reference);
      std::string_view name = git_reference_name(reference.get());
      if (!name.starts_with(kTagsPrefix)) continue;
      auto tag = Describe(name.substr(kTagsPrefix.size()), reference.get());
      if (!tag.ok()) {
        if (tag.error().code() == ErrorCode::kInvalid) continue;  // does not lead to a commit
        return tag.error();
      }
      tags.push_back(std::move(tag).value());
    }
    std::sort(tags.begin(), tags.end(),
              [](const TagInfo& a, const TagInfo& b) { return a.name < b.name; });
    return tags;
  }

  Result<TagInfo> ResolveTag(std::string_view name) override {
    std::string reference_name = std::string(kTagsPrefix) + std::string(name);
    int valid = 0;
    if (name.empty() || git_reference_name_is_valid(&valid, reference_name.c_str()) < 0 ||
        valid == 0) {
      return Error(ErrorCode::kInvalid, Quoted(name) + " is not a valid tag name");
    }
    git_reference* raw_reference = nullptr;
    int rc = git_reference_lookup(&raw_reference, repository_.get(), reference_name.c_str());
    if (rc == GIT_ENOTFOUND) {
      return Error(ErrorCode::kNotFound, "tag " + std::string(name) +
                                             " not found in the mirror of " + url_ +
                                             " (deleted, or not fetched yet)");
    }
    if (rc < 0) return GitError(ErrorCode::kIo, rc, "resolving tag " + std::string(name));
    ReferencePtr reference(raw_reference);
    return Describe(name, reference.get());
  }

  Result<std::optional<std::string>> ReadFile(std::string_view commit_id,
                                              std::string_view path) override {
    auto tree_path = NormalizeTreePath(path);
    if (!tree_path.ok()) return tree_path.error();
    if (!IsFullHexId(commit_id)) {
      return Error(ErrorCode::kInvalid, Quoted(commit_id) + " is not a full commit id");
    }
    git_oid oid;
    if (git_oid_fromstr(&oid, std::string(commit_id).c_str()) < 0) {
      return Error(ErrorCode::kInvalid, Quoted(commit_id) + " is not a full commit id");
    }
    git_commit* raw_commit = nullptr;
    int rc = git_commit_lookup(&raw_commit, repository_.get(), &oid);
    if (rc == GIT_ENOTFOUND) {
      return GitError(ErrorCode::kNotFound, rc, "commit " + ShortId(commit_id));
    }
    if (rc < 0) return GitError(ErrorCode::kIo, rc, "reading commit " + ShortId(commit_id));
    CommitPtr commit(raw_commit);
    git_tree* raw_tree = nullptr;
    rc = git_commit_tree(&raw_tree, commit.get());
    if (rc < 0) return GitError(ErrorCode::kIo, rc, "reading commit " + ShortId(commit_id));
    TreePtr tree(raw_tree);

    git_tree_entry* raw_entry = nullptr;
    rc = git_tree_entry_bypath(&raw_entry, tree.get(), tree_path->c_str());
    if (rc == GIT_ENOTFOUND) return std::optional<std::string>();
    if (rc < 0) return GitError(ErrorCode::kIo, rc, "reading " + *tree_path);
    TreeEntryPtr entry(raw_entry);
    switch (git_tree_entry_type(entry.get())) {
      case GIT_OBJECT_BLOB:
        break;
      case GIT_OBJECT_TREE:
        return Error(ErrorCode::kInvalid, *tree_path + " is a directory");
      case GIT_OBJECT_COMMIT:
        return Error(ErrorCode::kInvalid, *tree_path + " is a submodule");
      default:
        return Error(ErrorCode::kInvalid, *tree_path + " is not a file");
    }
    if (git_tree_entry_filemode(entry.get()) == GIT_FILEMODE_LINK) {
      return Error(ErrorCode::kInvalid, *tree_path + " is a symbolic link, which is not followed");
    }

    // The header gives the size without inflating the object.
    size_t size = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    const git_oid* blob_id = git_tree_entry_id(entry.get());
    rc = git_odb_read_header(&size, &type, odb_.get(), blob_id);
    if (rc < 0) return GitError(ErrorCode::kIo, rc, "reading " + *tree_path);
    if (size > kMaxRepositoryFileBytes) {
      return Error(ErrorCode::kTooLarge, *tree_path + " is " + std::to_string(size) +
                                             " bytes, more than the limit of " +
                                             std::to_string(kMaxRepositoryFileBytes));
    }
    git_blob* raw_blob = nullptr;
    rc = git_blob_lookup(&raw_blob, repository_.get(), blob_id);
    if (rc < 0) return GitError(ErrorCode::kIo, rc, "reading " + *tree_path);
    BlobPtr blob(raw_blob);
    const char* content = static_cast<const char*>(git_blob_rawcontent(blob.get()));
    return std::optional<std::string>(
        std::string(content, static_cast<size_t>(git_blob_rawsize(blob.get()))));
  }

 private:
  Error FetchError(int rc, const FetchState& state, bool connected) const {
    std::string what = "fetching tags from " + url_;
    if (state.credentials_requested || rc == GIT_EAUTH) {
      return Error(ErrorCode::kPermissionDenied,
                   what +
                       ": the remote requires authentication, and shipd has no git credentials "
                       "configured (only repositories readable without credentials are supported)");
    }
    if (rc == GIT_ECERTIFICATE) {
      return GitError(ErrorCode::kUnavailable, rc, what + ": untrusted server certificate");
    }
    const git_error* error = git_error_last();
    int klass = error != nullptr ? error->klass : GIT_ERROR_NONE;
    bool network = klass == GIT_ERROR_NET || klass == GIT_ERROR_HTTP || klass == GIT_ERROR_SSH ||
                   klass == GIT_ERROR_SSL;
    return GitError(!connected || network ? ErrorCode::kUnavailable : ErrorCode::kIo, rc, what);
  }

  Result<TagInfo> Describe(std::string_view name, git_reference* reference) {
    std::string what = "resolving tag " + std::string(name);
    git_reference* raw_direct = nullptr;
    int rc = git_reference_resolve(&raw_direct, reference);
    if (rc < 0) return GitError(ErrorCode::kIo, rc, what);
    ReferencePtr direct(raw_direct);
    const git_oid* target = git_reference_target(direct.get());
    git_object* raw_object = nullptr;
    rc = git_object_lookup(&raw_object, repository_.get(), target, GIT_OBJECT_ANY);
    if (rc < 0) return GitError(ErrorCode::kIo, rc, what);
    ObjectPtr object(raw_object);
    git_object* raw_peeled = nullptr;
    rc = git_object_peel(&raw_peeled, object.get(), GIT_OBJECT_COMMIT);
    if (rc < 0) {
      return GitError(ErrorCode::kInvalid, rc, "tag " + std::string(name) + " is not a commit");
    }
    ObjectPtr peeled(raw_peeled);
    TagInfo tag;
    tag.name = std::string(name);
    tag.commit = OidHex(git_object_id(peeled.get()));
    tag.object_id = OidHex(target);
    tag.annotated = git_object_type(object.get()) == GIT_OBJECT_TAG;
    return tag;
  }

  std::string url_;
  RepositoryPtr repository_;
  RemotePtr remote_;
  OdbPtr odb_;
};

Result<RepositoryPtr> OpenOrCreateBare(const fs::path& dir) {
  std::error_code ec;
  git_repository* raw = nullptr;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      return Error(ErrorCode::kConflict, dir.string() + " exists and is not a directory");
    }
    if (!fs::is_empty(dir, ec)) {
      int rc = git_repository_open_bare(&raw, dir.c_str());
      if (rc < 0) {
        return GitError(ErrorCode::kConflict, rc, dir.string() + " is not a git mirror");
      }
      return RepositoryPtr(raw);
    }
  }
  git_repository_init_options options;
  git_repository_init_options_init(&options, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
  options.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
  int rc = git_repository_init_ext(&raw, dir.c_str(), &options);
  if (rc < 0) return GitError(ErrorCode::kIo, rc, "creating a mirror in " + dir.string());
  return RepositoryPtr(raw);
}

// Records the remote in the mirror's configuration, so the git CLI can inspect and fetch it too.
Status RecordRemote(git_repository* repository, const std::string& url) {
  git_config* raw = nullptr;
  int rc = git_repository_config(&raw, repository);
  if (rc < 0) return GitError(ErrorCode::kIo, rc, "reading the mirror's configuration");
  ConfigPtr config(raw);
  const std::string prefix = std::string("remote.") + kRemoteName;
  for (const auto& [key, value] :
       {std::pair{prefix + ".url", url.c_str()}, std::pair{prefix + ".fetch", kTagRefspec}}) {
    git_buf current = GIT_BUF_INIT;
    bool same = git_config_get_string_buf(&current, config.get(), key.c_str()) == 0 &&
                std::string_view(current.ptr, current.size) == value;
    git_buf_dispose(&current);
    if (same) continue;
    rc = git_config_set_string(config.get(), key.c_str(), value);
    if (rc < 0) return GitError(ErrorCode::kIo, rc, "writing the mirror's configuration");
  }
  return Ok();
}

// The remote the mirror fetches from is built in memory from `url` rather than looked up in the
// configuration: url.*.insteadOf rewriting (which shipd does not need) goes through a regex match
// that leaks in libgit2 1.5.1 (fixed upstream by libgit2/libgit2#6382).
Result<RemotePtr> CreateRemote(git_repository* repository, const std::string& url) {
  git_remote_create_options options;
  git_remote_create_options_init(&options, GIT_REMOTE_CREATE_OPTIONS_VERSION);
  options.repository = repository;
  options.name = nullptr;
  options.fetchspec = kTagRefspec;
  options.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  git_remote* raw = nullptr;
  int rc = git_remote_create_with_opts(&raw, url.c_str(), &options);
  if (rc < 0) return GitError(ErrorCode::kInvalid, rc, "repository URL " + Quoted(url));
  return RemotePtr(raw);
}

}  // namespace

Result<std::unique_ptr<GitMirror>> OpenMirror(const std::string& url, const fs::path& dir) {
  if (int rc = InitLibgit2Once(); rc < 0) {
    return GitError(ErrorCode::kInternal, rc, "initialising libgit2");
  }
  if (url.empty()) return Error(ErrorCode::kInvalid, "the repository URL is empty");
  std::string remote_url = url;
  if (IsLocalPath(url)) {
    std::error_code ec;
    fs::path absolute = fs::absolute(url, ec);
    if (ec) {
      return Error(ErrorCode::kInvalid, "repository path " + Quoted(url) + ": " + ec.message());
    }
    remote_url = absolute.lexically_normal().string();
  }
  auto repository = OpenOrCreateBare(dir);
  if (!repository.ok()) return repository.error();
  auto remote = CreateRemote(repository->get(), remote_url);
  if (!remote.ok()) return remote.error();
  if (auto recorded = RecordRemote(repository->get(), remote_url); !recorded.ok()) {
    return recorded.error().WithContext("mirror " + dir.string());
  }
  git_odb* raw_odb = nullptr;
  int rc = git_repository_odb(&raw_odb, repository->get());
  if (rc < 0) return GitError(ErrorCode::kIo, rc, "opening the mirror " + dir.string());
  return std::unique_ptr<GitMirror>(
      std::make_unique<Libgit2Mirror>(std::move(remote_url), std::move(repository).value(),
                                      std::move(remote).value(), OdbPtr(raw_odb)));
}

namespace {
constexpr std::string_view kPlaceholder = "{version}";
}  // namespace

TagPattern::TagPattern() : text_("v{version}"), prefix_("v") {}

Result<TagPattern> TagPattern::Parse(std::string_view text) {
  size_t at = text.find(kPlaceholder);
  if (at == std::string_view::npos) {
    return Error(ErrorCode::kInvalid, "tag pattern " + Quoted(text) + " has no {version}");
  }
  if (text.find(kPlaceholder, at + 1) != std::string_view::npos) {
    return Error(ErrorCode::kInvalid,
                 "tag pattern " + Quoted(text) + " has {version} more than once");
  }
  TagPattern pattern;
  pattern.text_ = std::string(text);
  pattern.prefix_ = std::string(text.substr(0, at));
  pattern.suffix_ = std::string(text.substr(at + kPlaceholder.size()));
  return pattern;
}

Result<Semver> TagPattern::Match(std::string_view tag) const {
  if (tag.size() <= prefix_.size() + suffix_.size() || !tag.starts_with(prefix_) ||
      !tag.ends_with(suffix_)) {
    return Error(ErrorCode::kInvalid,
                 "tag " + Quoted(tag) + " does not match the tag pattern " + Quoted(text_));
  }
  std::string_view version =
      tag.substr(prefix_.size(), tag.size() - prefix_.size() - suffix_.size());
  if (std::isdigit(static_cast<unsigned char>(version.front())) == 0) {
    return Error(ErrorCode::kInvalid, "tag " + Quoted(tag) + " does not name a semver version (" +
                                          Quoted(version) + " in the tag pattern " + Quoted(text_) +
                                          ")");
  }
  auto semver = Semver::Parse(version);
  if (!semver.ok()) {
    return Error(ErrorCode::kInvalid, "tag " + Quoted(tag) + " does not name a semver version: " +
                                          semver.error().message());
  }
  return semver;
}

Result<Version> ReadVersionAtTag(GitMirror& mirror, std::string_view service, const TagInfo& tag,
                                 const TagPattern& pattern, std::string_view manifest_path) {
  auto version = pattern.Match(tag.name);
  if (!version.ok()) return version.error().WithContext(service);
  const std::string context = std::string(service) + " " + tag.name;
  if (tag.commit.empty()) {
    return Error(ErrorCode::kInvalid, context + ": the tag is not resolved to a commit");
  }
  auto manifest_file = NormalizeTreePath(manifest_path);
  if (!manifest_file.ok()) return manifest_file.error().WithContext(context + ": manifest");
  const std::string where = context + ": " + *manifest_file;

  auto text = mirror.ReadFile(tag.commit, *manifest_file);
  if (!text.ok()) return text.error().WithContext(where);
  if (!text->has_value()) {
    return Error(ErrorCode::kInvalid, where + ": not found at commit " + ShortId(tag.commit));
  }
  auto doc = YamlToJson(**text);
  if (!doc.ok()) return Error(ErrorCode::kInvalid, where + ": " + doc.error().message());
  if (!doc->is_object()) {
    return Error(ErrorCode::kInvalid, where + ": the manifest must be a mapping");
  }

  size_t slash = manifest_file->rfind('/');
  std::string manifest_dir = slash == std::string::npos ? "" : manifest_file->substr(0, slash);
  if (auto provides = doc->find("provides"); provides != doc->end() && provides->is_array()) {
    for (size_t i = 0; i < provides->size(); ++i) {
      nlohmann::json& item = (*provides)[i];
      if (!item.is_object()) continue;  // VersionFromManifest reports it
      auto spec = item.find("spec");
      if (spec == item.end() || !spec->is_string()) continue;  // absent, or given inline
      const std::string field = where + ": provides[" + std::to_string(i) + "].spec";
      std::string spec_path = spec->get<std::string>();
      if (spec_path.starts_with("/")) {
        return Error(ErrorCode::kInvalid,
                     field + ": " + Quoted(spec_path) + " must be relative to the manifest");
      }
      auto file =
          NormalizeTreePath(manifest_dir.empty() ? spec_path : manifest_dir + "/" + spec_path);
      if (!file.ok()) return file.error().WithContext(field);
      auto content = mirror.ReadFile(tag.commit, *file);
      if (!content.ok()) return content.error().WithContext(field);
      if (!content->has_value()) {
        return Error(ErrorCode::kInvalid,
                     field + ": " + *file + " not found at commit " + ShortId(tag.commit));
      }
      *spec = std::move(**content);
    }
  }
  // The tag decides the commit; it is part of the content hash, so it goes in before hashing.
  (*doc)["commit"] = tag.commit;
  (*doc)["tag"] = tag.name;
  auto out = VersionFromManifest(*doc, service, version->ToString());
  if (!out.ok()) return out.error().WithContext(where);
  return out;
}

}  // namespace shipd
