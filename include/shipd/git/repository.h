// A local mirror of one service's remote repository, holding only its tags and the commits they
// reach, and reading a Version from the ship.yaml at a tag. OpenMirror returns the libgit2
// implementation; everything else is written against the GitMirror interface so tests can fake it.
// A GitMirror is used by one thread at a time (and one process per directory); different mirrors
// may be used concurrently, and libgit2 is initialised once, on the first OpenMirror, whichever
// thread calls it. Fetches block on the network: call them off the engine strand.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/result.h"
#include "shipd/model/registry.h"
#include "shipd/model/semver.h"

namespace shipd {

// One tag of the mirror.
struct TagInfo {
  std::string name;       // without "refs/tags/"
  std::string commit;     // the commit the tag peels to; never a tag object
  std::string object_id;  // what refs/tags/<name> points at: the tag object, or the commit itself
  bool annotated = false;
};

// Files larger than this are refused by ReadFile (kTooLarge), so a hostile repository cannot make
// the daemon load an arbitrarily large blob.
inline constexpr size_t kMaxRepositoryFileBytes = 5 * 1024 * 1024;

inline constexpr std::string_view kDefaultManifestPath = "ship.yaml";

class GitMirror {
 public:
  virtual ~GitMirror() = default;

  virtual const std::string& url() const = 0;

  // Fetches refs/tags/* from the remote, forced and pruned: a moved tag is seen moved and a deleted
  // one disappears. Errors: kPermissionDenied when the remote asks for credentials (none are
  // configured), kUnavailable when it cannot be reached, kIo for local failures.
  virtual Status FetchTags() = 0;

  // Tags sorted by name. Tags that do not lead to a commit (a tag of a tree or blob) are left out.
  virtual Result<std::vector<TagInfo>> ListTags() = 0;

  // kNotFound when the mirror has no such tag (deleted, or not fetched yet); kInvalid when the name
  // is not a valid tag name or the tag does not lead to a commit.
  virtual Result<TagInfo> ResolveTag(std::string_view name) = 0;

  // The content of the file at `path` (relative to the repository root; "." and ".." are resolved
  // but may not leave the tree) in the tree of `commit_id` (full hex id of a commit). nullopt when
  // no such file exists there. kInvalid for a path escaping the tree, a directory, a symbolic link
  // or a submodule; kTooLarge beyond kMaxRepositoryFileBytes; kNotFound for an unknown commit.
  virtual Result<std::optional<std::string>> ReadFile(std::string_view commit_id,
                                                      std::string_view path) = 0;
};

// Opens the bare mirror of `url` kept in `dir`, creating it (and the directories above it) on first
// use; when the directory holds a mirror of another URL, its remote is repointed at `url`.
// `url`: file://, a local path (made absolute), https://, ssh:// or scp-like user@host:path.
// Nothing is fetched here. kConflict when `dir` exists and is something else.
Result<std::unique_ptr<GitMirror>> OpenMirror(const std::string& url,
                                              const std::filesystem::path& dir);

// How a tag names a version: a text with exactly one "{version}" placeholder, e.g. "v{version}"
// (the default) or "release-{version}". The placeholder must be filled by a semver starting with a
// digit, so "vv1.2.3" does not match "v{version}". Immutable value type.
class TagPattern {
 public:
  TagPattern();  // "v{version}"

  // kInvalid unless the text contains "{version}" exactly once.
  static Result<TagPattern> Parse(std::string_view text);

  // The version a tag names. kInvalid when the tag does not match the pattern or the matched part
  // is not semver; callers report such tags as ignored rather than failed.
  Result<Semver> Match(std::string_view tag) const;

  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::string prefix_;
  std::string suffix_;
};

// Reads the version `tag` names: the tag must match `pattern` (see TagPattern::Match; callers that
// report non-version tags as ignored check that first, since both failures are kInvalid), the
// manifest at `manifest_path` in the tagged commit is parsed (YAML), each provides[].spec that is a
// path (relative to the manifest's directory) is replaced by that file's content from the same
// commit, and the result goes through VersionFromManifest with `service` and the tag's version.
// The Version's commit and tag are the tag's peeled commit and name, and are part of its content
// hash. Errors carry context ("orders v3.2.0: ship.yaml: provides[0].spec: ..."); problems with the
// repository's content are kInvalid, mirror failures keep their code.
Result<Version> ReadVersionAtTag(GitMirror& mirror, std::string_view service, const TagInfo& tag,
                                 const TagPattern& pattern,
                                 std::string_view manifest_path = kDefaultManifestPath);

}  // namespace shipd
