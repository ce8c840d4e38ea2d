// Tag webhook deliveries from GitHub, GitLab and Gitea/Forgejo: verification and parsing. Pure
// functions over (headers, raw body, secret); the signature or token is checked before the body is
// parsed, so nothing of an unauthenticated delivery is interpreted. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/result.h"

namespace shipd {

enum class GitHost { kGitHub, kGitLab, kGitea };  // kGitea covers Forgejo too

// "github", "gitlab", "gitea".
std::string_view GitHostName(GitHost host);

enum class TagEventKind {
  kTagPushed,   // a tag was created or moved
  kTagDeleted,  // a tag was deleted
  kPing,        // the host checks the hook (GitHub "ping")
  kIgnored,     // anything else: a branch push, another event; `detail` says which
};

// "tag_pushed", "tag_deleted", "ping", "ignored".
std::string_view TagEventKindName(TagEventKind kind);

struct TagEvent {
  GitHost host = GitHost::kGitHub;
  TagEventKind kind = TagEventKind::kIgnored;
  std::string event;  // the host's event name: "push", "Tag Push Hook", "create", ...
  std::string tag;    // without "refs/tags/"; set for kTagPushed and kTagDeleted
  // What refs/tags/<tag> points at after the push ("after"): for an annotated tag the tag object,
  // not the commit. Compare with TagInfo::object_id to see whether a mirror has caught up. May be
  // empty (create events of GitHub).
  std::string object_id;
  // The tagged commit when the host states it (GitLab's checkout_sha); otherwise empty, and the
  // commit comes from resolving the tag in the mirror.
  std::string commit;
  // Every URL and name the payload gives for the repository (clone URLs, web URL, "owner/name"),
  // for matching against configuration with RefersToRepository.
  std::vector<std::string> repositories;
  std::string delivery_id;  // for recognising redeliveries; empty when the host sent none
  std::string detail;       // for kIgnored: why ("branch push refs/heads/main", "event issues")
};

// Looks a header up by name, case-insensitively; nullopt when absent. Adapts any header container
// (cpp-httplib's Request, a HeaderMap, ...).
using HeaderLookup = std::function<std::optional<std::string>(std::string_view name)>;

struct CaseInsensitiveLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};
using HeaderMap = std::map<std::string, std::string, CaseInsensitiveLess>;

// The host that sent a delivery, from its event header: X-Gitea-Event or X-Forgejo-Event first
// (Gitea also sends X-GitHub-Event for compatibility), then X-Gitlab-Event, then X-GitHub-Event.
std::optional<GitHost> DetectGitHost(const HeaderLookup& header);
std::optional<GitHost> DetectGitHost(const HeaderMap& headers);

// Verifies and parses one delivery from `host`, whose webhook secret is `secret` (an empty secret
// refuses every delivery). Errors: kUnauthenticated for a missing or wrong signature/token
// ("missing X-Hub-Signature-256 header", "X-Hub-Signature-256: signature mismatch"); kBadRequest
// for a missing event header, malformed JSON or a missing or mistyped field, which the message
// names.
//   GitHub: X-GitHub-Event push, create, delete (ref_type tag) or ping; X-Hub-Signature-256
//     "sha256=<hex HMAC-SHA256 of the body>"; X-GitHub-Delivery.
//   GitLab: X-Gitlab-Event "Tag Push Hook" (object_kind tag_push); X-Gitlab-Token is the secret;
//     X-Gitlab-Event-UUID or Idempotency-Key.
//   Gitea/Forgejo: X-Gitea-Event or X-Forgejo-Event push, create or delete (ref_type tag);
//     X-Forgejo-Signature, else X-Gitea-Signature, the bare hex HMAC-SHA256 of the body;
//     X-Forgejo-Delivery or X-Gitea-Delivery.
// A push whose "after" is all zeros, or that says "deleted": true, is a deletion.
Result<TagEvent> ParseTagEvent(GitHost host, const HeaderLookup& header, std::string_view body,
                               std::string_view secret);
Result<TagEvent> ParseTagEvent(GitHost host, const HeaderMap& headers, std::string_view body,
                               std::string_view secret);

// A repository URL or name reduced for comparison: lower case, without scheme, credentials, port,
// trailing "/" or ".git", with scp-like "git@host:owner/repo" read as "host/owner/repo". So
// "https://github.com/Acme/orders.git" and "git@github.com:acme/orders" both give
// "github.com/acme/orders"; "acme/orders" stays "acme/orders".
std::string NormalizeRepositoryId(std::string_view id);

// Whether `configured` (a URL or "owner/name") names the event's repository, after normalising
// both.
bool RefersToRepository(const TagEvent& event, std::string_view configured);

}  // namespace shipd
