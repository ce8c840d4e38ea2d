#include "shipd/git/tag_event.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "shipd/common/sha256.h"

namespace shipd {
namespace {

using nlohmann::json;

constexpr std::string_view kTagsPrefix = "refs/tags/";
constexpr std::string_view kHeadsPrefix = "refs/heads/";

char LowerChar(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), LowerChar);
  return out;
}

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  size_t last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

std::string Quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::optional<std::string> Header(const HeaderLookup& header, std::string_view name) {
  std::optional<std::string> value = header(name);
  if (!value) return std::nullopt;
  return std::string(Trim(*value));
}

std::optional<std::string> FirstHeader(const HeaderLookup& header,
                                       std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    if (auto value = Header(header, name); value && !value->empty()) return value;
  }
  return std::nullopt;
}

Status CheckHexHmac(std::string_view header_name, std::string_view received_hex,
                    std::string_view body, std::string_view secret) {
  if (!ConstantTimeEquals(Lower(received_hex), HmacSha256Hex(secret, body))) {
    return Error(ErrorCode::kUnauthenticated, std::string(header_name) + ": signature mismatch");
  }
  return Ok();
}

Status VerifyGitHub(const HeaderLookup& header, std::string_view body, std::string_view secret) {
  constexpr std::string_view kName = "X-Hub-Signature-256";
  constexpr std::string_view kPrefix = "sha256=";
  auto signature = Header(header, kName);
  if (!signature) {
    return Error(ErrorCode::kUnauthenticated, "missing X-Hub-Signature-256 header");
  }
  if (!signature->starts_with(kPrefix)) {
    return Error(ErrorCode::kUnauthenticated,
                 "X-Hub-Signature-256: expected \"sha256=<hex>\", signature mismatch");
  }
  return CheckHexHmac(kName, std::string_view(*signature).substr(kPrefix.size()), body, secret);
}

// The token is the secret itself. Comparing digests keeps the comparison constant-time even in the
// token's length.
Status VerifyGitLab(const HeaderLookup& header, std::string_view secret) {
  auto token = Header(header, "X-Gitlab-Token");
  if (!token) return Error(ErrorCode::kUnauthenticated, "missing X-Gitlab-Token header");
  if (!ConstantTimeEquals(Sha256Hex(*token), Sha256Hex(secret))) {
    return Error(ErrorCode::kUnauthenticated, "X-Gitlab-Token: signature mismatch");
  }
  return Ok();
}

// Forgejo sends the same signature under both names; when its own header is there, it is the one
// checked, so a wrong X-Forgejo-Signature is not rescued by another header.
Status VerifyGitea(const HeaderLookup& header, std::string_view body, std::string_view secret) {
  for (std::string_view name : {"X-Forgejo-Signature", "X-Gitea-Signature"}) {
    if (auto signature = Header(header, name)) return CheckHexHmac(name, *signature, body, secret);
  }
  return Error(ErrorCode::kUnauthenticated,
               "missing X-Gitea-Signature header (or X-Forgejo-Signature)");
}

Status Verify(GitHost host, const HeaderLookup& header, std::string_view body,
              std::string_view secret) {
  if (secret.empty()) {
    return Error(ErrorCode::kUnauthenticated, "no webhook secret is configured for " +
                                                  std::string(GitHostName(host)) +
                                                  ": unsigned deliveries are refused");
  }
  switch (host) {
    case GitHost::kGitHub:
      return VerifyGitHub(header, body, secret);
    case GitHost::kGitLab:
      return VerifyGitLab(header, secret);
    case GitHost::kGitea:
      return VerifyGitea(header, body, secret);
  }
  return Error(ErrorCode::kInternal, "unknown git host");
}

Result<json> ParseBody(std::string_view body) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error(ErrorCode::kBadRequest, "malformed JSON body");
  if (!doc.is_object()) return Error(ErrorCode::kBadRequest, "the body must be a JSON object");
  return doc;
}

Result<std::string> RequiredString(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    return Error(ErrorCode::kBadRequest, "missing field " + Quoted(key));
  }
  if (!it->is_string()) {
    return Error(ErrorCode::kBadRequest,
                 "field " + Quoted(key) + " must be a string, got " + std::string(it->type_name()));
  }
  return it->get<std::string>();
}

Result<const json*> RequiredObject(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    return Error(ErrorCode::kBadRequest, "missing field " + Quoted(key));
  }
  if (!it->is_object()) {
    return Error(ErrorCode::kBadRequest, "field " + Quoted(key) + " must be an object");
  }
  return &*it;
}

void AddRepositoryIds(const json& body, const char* object_key,
                      std::initializer_list<const char*> keys, std::vector<std::string>* out) {
  auto object = body.find(object_key);
  if (object == body.end() || !object->is_object()) return;
  for (const char* key : keys) {
    auto value = object->find(key);
    if (value == object->end() || !value->is_string()) continue;
    std::string id = value->get<std::string>();
    if (!id.empty() && std::find(out->begin(), out->end(), id) == out->end()) {
      out->push_back(std::move(id));
    }
  }
}

bool IsZeroId(std::string_view id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) { return c == '0'; });
}

// git check-ref-format's rules, enough to keep odd names out of refs and logs.
bool IsValidTagName(std::string_view name) {
  if (name.empty() || name.front() == '-' || name.front() == '/' || name.front() == '.' ||
      name.back() == '/' || name.back() == '.' || name.ends_with(".lock")) {
    return false;
  }
  if (name.find("..") != std::string_view::npos || name.find("//") != std::string_view::npos ||
      name.find("@{") != std::string_view::npos || name.find("/.") != std::string_view::npos) {
    return false;
  }
  return std::none_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f || std::string_view(" ~^:?*[\\").find(c) != std::string_view::npos;
  });
}

// Sets the tag of `event` from a full ref ("refs/tags/v1.2.0") and marks it pushed, or marks the
// event ignored.
Status TakeTagFromRef(std::string_view ref, TagEvent* event) {
  if (!ref.starts_with(kTagsPrefix)) {
    event->kind = TagEventKind::kIgnored;
    event->detail =
        (ref.starts_with(kHeadsPrefix) ? "branch push " : "push to ") + std::string(ref);
    return Ok();
  }
  std::string_view tag = ref.substr(kTagsPrefix.size());
  if (!IsValidTagName(tag)) {
    return Error(ErrorCode::kBadRequest, "field \"ref\": " + Quoted(ref) + " is not a valid tag");
  }
  event->tag = std::string(tag);
  event->kind = TagEventKind::kTagPushed;
  return Ok();
}

// GitHub and Gitea push events share their shape.
Status ParsePush(const json& body, TagEvent* event) {
  auto ref = RequiredString(body, "ref");
  if (!ref.ok()) return ref.error();
  SHIPD_RETURN_IF_ERROR(TakeTagFromRef(*ref, event));
  if (event->kind == TagEventKind::kIgnored) return Ok();
  auto after = RequiredString(body, "after");
  if (!after.ok()) return after.error();
  auto deleted = body.find("deleted");
  if (IsZeroId(*after) ||
      (deleted != body.end() && deleted->is_boolean() && deleted->get<bool>())) {
    event->kind = TagEventKind::kTagDeleted;
  } else {
    event->kind = TagEventKind::kTagPushed;
    event->object_id = std::move(after).value();
  }
  return Ok();
}

// GitHub and Gitea create/delete events: "ref" is the short name, "ref_type" says tag or branch.
Status ParseCreateOrDelete(const json& body, bool created, TagEvent* event) {
  auto ref = RequiredString(body, "ref");
  if (!ref.ok()) return ref.error();
  auto ref_type = RequiredString(body, "ref_type");
  if (!ref_type.ok()) return ref_type.error();
  if (*ref_type != "tag") {
    event->kind = TagEventKind::kIgnored;
    event->detail = event->event + " of " + *ref_type + " " + *ref;
    return Ok();
  }
  std::string_view tag = *ref;
  if (tag.starts_with(kTagsPrefix)) tag.remove_prefix(kTagsPrefix.size());
  if (!IsValidTagName(tag)) {
    return Error(ErrorCode::kBadRequest, "field \"ref\": " + Quoted(*ref) + " is not a valid tag");
  }
  event->tag = std::string(tag);
  event->kind = created ? TagEventKind::kTagPushed : TagEventKind::kTagDeleted;
  return Ok();
}

// The part of GitHub and Gitea deliveries after the event header and body are known.
Status ParseGitHubShaped(const json& body, TagEvent* event) {
  if (event->event == "push") {
    SHIPD_RETURN_IF_ERROR(ParsePush(body, event));
  } else if (event->event == "create" || event->event == "delete") {
    SHIPD_RETURN_IF_ERROR(ParseCreateOrDelete(body, event->event == "create", event));
  } else {
    event->kind = TagEventKind::kIgnored;
    event->detail = "event " + event->event;
    return Ok();
  }
  if (event->kind == TagEventKind::kIgnored) return Ok();
  auto repository = RequiredObject(body, "repository");
  if (!repository.ok()) return repository.error();
  return Ok();
}

Result<TagEvent> ParseGitHub(const HeaderLookup& header, std::string_view body) {
  TagEvent event;
  event.host = GitHost::kGitHub;
  auto name = Header(header, "X-GitHub-Event");
  if (!name || name->empty()) return Error(ErrorCode::kBadRequest, "missing X-GitHub-Event header");
  event.event = *name;
  event.delivery_id = Header(header, "X-GitHub-Delivery").value_or("");
  auto doc = ParseBody(body);
  if (!doc.ok()) return doc.error();
  AddRepositoryIds(*doc, "repository", {"clone_url", "html_url", "ssh_url", "git_url", "full_name"},
                   &event.repositories);
  if (event.event == "ping") {
    event.kind = TagEventKind::kPing;
    return event;
  }
  SHIPD_RETURN_IF_ERROR(ParseGitHubShaped(*doc, &event));
  return event;
}

Result<TagEvent> ParseGitea(const HeaderLookup& header, std::string_view body) {
  TagEvent event;
  event.host = GitHost::kGitea;
  auto name = FirstHeader(header, {"X-Forgejo-Event", "X-Gitea-Event"});
  if (!name) return Error(ErrorCode::kBadRequest, "missing X-Gitea-Event header");
  event.event = *name;
  event.delivery_id = FirstHeader(header, {"X-Forgejo-Delivery", "X-Gitea-Delivery"}).value_or("");
  auto doc = ParseBody(body);
  if (!doc.ok()) return doc.error();
  AddRepositoryIds(*doc, "repository", {"clone_url", "html_url", "ssh_url", "full_name"},
                   &event.repositories);
  SHIPD_RETURN_IF_ERROR(ParseGitHubShaped(*doc, &event));
  return event;
}

Result<TagEvent> ParseGitLab(const HeaderLookup& header, std::string_view body) {
  TagEvent event;
  event.host = GitHost::kGitLab;
  auto name = Header(header, "X-Gitlab-Event");
  if (!name || name->empty()) return Error(ErrorCode::kBadRequest, "missing X-Gitlab-Event header");
  event.event = *name;
  event.delivery_id = FirstHeader(header, {"X-Gitlab-Event-UUID", "Idempotency-Key"}).value_or("");
  auto doc = ParseBody(body);
  if (!doc.ok()) return doc.error();
  AddRepositoryIds(*doc, "project",
                   {"git_http_url", "git_ssh_url", "web_url", "path_with_namespace"},
                   &event.repositories);
  AddRepositoryIds(*doc, "repository", {"homepage", "git_http_url", "git_ssh_url", "url"},
                   &event.repositories);
  if (event.event != "Tag Push Hook") {
    event.kind = TagEventKind::kIgnored;
    event.detail = "event " + event.event;
    return event;
  }
  auto object_kind = RequiredString(*doc, "object_kind");
  if (!object_kind.ok()) return object_kind.error();
  if (*object_kind != "tag_push") {
    // GitLab's "test" button has sent branch push payloads under this header.
    event.kind = TagEventKind::kIgnored;
    event.detail = "object_kind " + *object_kind + " in a Tag Push Hook";
    return event;
  }
  auto ref = RequiredString(*doc, "ref");
  if (!ref.ok()) return ref.error();
  SHIPD_RETURN_IF_ERROR(TakeTagFromRef(*ref, &event));
  if (event.kind == TagEventKind::kIgnored) return event;
  auto project = RequiredObject(*doc, "project");
  if (!project.ok()) return project.error();
  auto after = RequiredString(*doc, "after");
  if (!after.ok()) return after.error();
  if (IsZeroId(*after)) {
    event.kind = TagEventKind::kTagDeleted;
    return event;
  }
  auto checkout = RequiredString(*doc, "checkout_sha");
  if (!checkout.ok()) return checkout.error();
  event.kind = TagEventKind::kTagPushed;
  event.object_id = std::move(after).value();
  event.commit = std::move(checkout).value();
  return event;
}

HeaderLookup LookupIn(const HeaderMap& headers) {
  return [&headers](std::string_view name) -> std::optional<std::string> {
    auto it = headers.find(name);
    if (it == headers.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

std::string_view GitHostName(GitHost host) {
  switch (host) {
    case GitHost::kGitHub:
      return "github";
    case GitHost::kGitLab:
      return "gitlab";
    case GitHost::kGitea:
      return "gitea";
  }
  return "unknown";
}

std::string_view TagEventKindName(TagEventKind kind) {
  switch (kind) {
    case TagEventKind::kTagPushed:
      return "tag_pushed";
    case TagEventKind::kTagDeleted:
      return "tag_deleted";
    case TagEventKind::kPing:
      return "ping";
    case TagEventKind::kIgnored:
      return "ignored";
  }
  return "unknown";
}

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](char x, char y) { return LowerChar(x) < LowerChar(y); });
}

std::optional<GitHost> DetectGitHost(const HeaderLookup& header) {
  if (FirstHeader(header, {"X-Forgejo-Event", "X-Gitea-Event"})) return GitHost::kGitea;
  if (FirstHeader(header, {"X-Gitlab-Event"})) return GitHost::kGitLab;
  if (FirstHeader(header, {"X-GitHub-Event"})) return GitHost::kGitHub;
  return std::nullopt;
}

std::optional<GitHost> DetectGitHost(const HeaderMap& headers) {
  return DetectGitHost(LookupIn(headers));
}

Result<TagEvent> ParseTagEvent(GitHost host, const HeaderLookup& header, std::string_view body,
                               std::string_view secret) {
  SHIPD_RETURN_IF_ERROR(Verify(host, header, body, secret));
  switch (host) {
    case GitHost::kGitHub:
      return ParseGitHub(header, body);
    case GitHost::kGitLab:
      return ParseGitLab(header, body);
    case GitHost::kGitea:
      return ParseGitea(header, body);
  }
  return Error(ErrorCode::kInternal, "unknown git host");
}

Result<TagEvent> ParseTagEvent(GitHost host, const HeaderMap& headers, std::string_view body,
                               std::string_view secret) {
  return ParseTagEvent(host, LookupIn(headers), body, secret);
}

std::string NormalizeRepositoryId(std::string_view id) {
  std::string text = Lower(Trim(id));
  if (size_t scheme = text.find("://"); scheme != std::string::npos) {
    text.erase(0, scheme + 3);
    size_t slash = std::min(text.find('/'), text.size());
    if (size_t at = text.rfind('@', slash); at != std::string::npos) text.erase(0, at + 1);
    slash = std::min(text.find('/'), text.size());
    if (size_t colon = text.find(':'); colon < slash) text.erase(colon, slash - colon);
  } else if (size_t colon = text.find(':');
             colon != std::string::npos && colon < std::min(text.find('/'), text.size())) {
    std::string host = text.substr(0, colon);
    if (size_t at = host.rfind('@'); at != std::string::npos) host.erase(0, at + 1);
    text = host + "/" + text.substr(colon + 1);
  }
  while (text.ends_with('/')) text.pop_back();
  if (text.ends_with(".git")) text.resize(text.size() - 4);
  while (text.ends_with('/')) text.pop_back();
  return text;
}

bool RefersToRepository(const TagEvent& event, std::string_view configured) {
  std::string wanted = NormalizeRepositoryId(configured);
  if (wanted.empty()) return false;
  return std::any_of(event.repositories.begin(), event.repositories.end(),
                     [&](const std::string& id) { return NormalizeRepositoryId(id) == wanted; });
}

}  // namespace shipd
