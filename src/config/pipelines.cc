#include "shipd/config/pipelines.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <queue>
#include <span>
#include <sstream>
#include <system_error>
#include <tuple>
#include <utility>

#include "shipd/config/freeze.h"

namespace shipd {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Names = std::span<const std::string_view>;

constexpr std::array<std::string_view, 4> kTopLevelKeys = {"environments", "strategies", "checks",
                                                           "drivers"};
constexpr std::array<std::string_view, 9> kEnvironmentKeys = {
    "name",      "after",  "driver",    "strategy",         "soak",
    "approvals", "freeze", "on_freeze", "progress_deadline"};
constexpr std::array<std::string_view, 3> kApprovalKeys = {"count", "roles", "not_requester"};
constexpr std::array<std::string_view, 6> kFreezeKeys = {"cron", "duration", "from",
                                                         "to",   "timezone", "reason"};
constexpr std::array<std::string_view, 1> kStrategyKeys = {"steps"};
constexpr std::array<std::string_view, 4> kStepKinds = {"weight", "pause", "analyze", "approve"};
constexpr std::array<std::string_view, 1> kPauseKeys = {"duration"};
constexpr std::array<std::string_view, 3> kAnalyzeKeys = {"checks", "duration", "count"};

// Keys every check / driver accepts, then the keys of each type (in enum order).
constexpr std::array<std::string_view, 5> kCheckCommonKeys = {"type", "interval", "failure_limit",
                                                              "consecutive_error_limit", "timeout"};
constexpr std::array<std::string_view, 4> kCheckTypes = {"http", "prometheus", "exec", "traffic"};
constexpr std::array<std::string_view, 4> kHttpKeys = {"url", "expected_status", "body_contains",
                                                       "max_latency"};
constexpr std::array<std::string_view, 4> kPrometheusKeys = {"address", "query", "min", "max"};
constexpr std::array<std::string_view, 1> kExecCheckKeys = {"command"};
constexpr std::array<std::string_view, 4> kTrafficKeys = {
    "max_error_rate", "max_latency", "max_error_rate_increase", "min_requests"};
constexpr std::array<Names, 4> kCheckTypeKeys = {Names(kHttpKeys), Names(kPrometheusKeys),
                                                 Names(kExecCheckKeys), Names(kTrafficKeys)};

constexpr std::array<std::string_view, 1> kDriverCommonKeys = {"type"};
constexpr std::array<std::string_view, 4> kDriverTypes = {"local", "exec", "webhook", "nginx"};
constexpr std::array<std::string_view, 1> kExecDriverKeys = {"command"};
constexpr std::array<std::string_view, 2> kWebhookKeys = {"url", "secret_env"};
constexpr std::array<std::string_view, 2> kNginxKeys = {"upstreams_file", "reload"};
constexpr std::array<Names, 4> kDriverTypeKeys = {Names(), Names(kExecDriverKeys),
                                                  Names(kWebhookKeys), Names(kNginxKeys)};

constexpr int64_t kMsPerDay = 86'400'000;
constexpr int64_t kMaxDurationMs = 3650 * kMsPerDay;
constexpr size_t kMaxReportedProblems = 20;
constexpr int kMaxMergeDepth = 8;

std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[(c >> 4) & 0xf];
      out += kHex[c & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string Join(Names names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> previous(b.size() + 1);
  std::vector<size_t> current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitute});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

// " (did you mean "x"?)" for the closest candidate that is plausibly a typo of `word`, else "".
std::string DidYouMean(std::string_view word, Names candidates) {
  std::string_view best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (std::string_view candidate : candidates) {
    size_t distance = EditDistance(word, candidate);
    size_t allowed = std::min(word.size(), candidate.size()) / 3 + 1;
    bool typo = distance <= allowed && distance < candidate.size();
    bool prefix = word.size() >= 3 && candidate.substr(0, word.size()) == word;
    if ((typo || prefix) && distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (best.empty()) return "";
  return " (did you mean " + Quote(best) + "?)";
}

// A suggestion, else the list of what is allowed.
std::string SuggestOrList(std::string_view word, Names candidates, std::string_view list_intro) {
  std::string suggestion = DidYouMean(word, candidates);
  if (!suggestion.empty()) return suggestion;
  return " (" + std::string(list_intro) + Join(candidates) + ")";
}

template <typename Map>
std::vector<std::string_view> KeysOf(const Map& map) {
  std::vector<std::string_view> keys;
  keys.reserve(map.size());
  for (const auto& [key, value] : map) keys.push_back(key);
  return keys;
}

bool Contains(Names names, std::string_view word) {
  return std::find(names.begin(), names.end(), word) != names.end();
}

std::string Prefix(const std::string& context) { return context.empty() ? "" : context + ": "; }

bool IsEnvironmentName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_or_digit(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return lower_or_digit(c) || c == '-'; });
}

// Names of strategies, checks and drivers.
bool IsObjectName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool IsEnvVarName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing (null)";
}

// Problem in `text` as a {{variable}} template, or nullopt.
std::optional<std::string> TemplateProblem(std::string_view text) {
  size_t pos = 0;
  while ((pos = text.find("{{", pos)) != std::string_view::npos) {
    size_t close = text.find("}}", pos + 2);
    if (close == std::string_view::npos) return "unterminated \"{{\" (variables are {{name}})";
    std::string_view name = text.substr(pos + 2, close - pos - 2);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!Contains(kTemplateVariables, name)) {
      return "unknown variable {{" + std::string(name) + "}}" +
             SuggestOrList(name, kTemplateVariables, "variables are ");
    }
    pos = close + 2;
  }
  return std::nullopt;
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool IsTzif(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return false;
  std::ifstream in(file, std::ios::binary);
  char magic[4] = {};
  in.read(magic, sizeof magic);
  return in.gcount() == 4 && std::memcmp(magic, "TZif", 4) == 0;
}

// Problem with an IANA timezone name (looked up like the C library does), or nullopt.
std::optional<std::string> TimezoneProblem(const std::string& tz) {
  if (tz == "UTC") return std::nullopt;  // valid even without a zoneinfo database
  bool safe = !tz.empty() && tz.front() != '/' && tz.find("..") == std::string::npos &&
              std::all_of(tz.begin(), tz.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '/' || c == '_' ||
                       c == '+' || c == '-';
              });
  if (!safe) return Quote(tz) + " is not a timezone name (like Europe/Berlin or UTC)";
  const char* tzdir = std::getenv("TZDIR");
  fs::path dir = (tzdir != nullptr && *tzdir != '\0') ? fs::path(tzdir) : "/usr/share/zoneinfo";
  if (IsTzif(dir / tz)) return std::nullopt;

  std::vector<std::string> siblings;
  fs::path relative_parent = fs::path(tz).parent_path();
  std::error_code ec;
  for (fs::directory_iterator it(dir / relative_parent, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      siblings.push_back((relative_parent / it->path().filename()).string());
    }
  }
  std::sort(siblings.begin(), siblings.end());
  std::vector<std::string_view> views(siblings.begin(), siblings.end());
  std::string suggestion = DidYouMean(tz, views);
  if (suggestion.empty()) suggestion = " (no such zone in " + dir.string() + ")";
  return "unknown timezone " + Quote(tz) + suggestion;
}

struct CronFieldSpec {
  std::string_view name;
  int min;
  int max;
  Names names;  // names[i] stands for min + i
};

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

std::optional<std::string> CronValue(std::string_view text, const CronFieldSpec& spec, int* out) {
  std::string range = std::to_string(spec.min) + "-" + std::to_string(spec.max);
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) {
    int value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return std::string(spec.name) + ": " + Quote(text) + " is not a number";
    }
    if (value < spec.min || value > spec.max) {
      return std::string(spec.name) + ": " + std::string(text) + " is out of range " + range;
    }
    *out = value;
    return std::nullopt;
  }
  std::string upper(text);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (size_t i = 0; i < spec.names.size(); ++i) {
    if (spec.names[i] == upper) {
      *out = spec.min + static_cast<int>(i);
      return std::nullopt;
    }
  }
  std::string message = std::string(spec.name) + ": " + Quote(text) + " is not a number " + range;
  if (!spec.names.empty()) {
    message +=
        " or a name " + std::string(spec.names.front()) + "-" + std::string(spec.names.back());
  }
  return message;
}

// Sets bits[v] for each value the field selects.
std::optional<std::string> ParseCronField(std::string_view field, const CronFieldSpec& spec,
                                          std::vector<bool>* bits) {
  bits->assign(static_cast<size_t>(spec.max) + 1, false);
  size_t start = 0;
  while (start <= field.size()) {
    size_t comma = field.find(',', start);
    if (comma == std::string_view::npos) comma = field.size();
    std::string_view part = field.substr(start, comma - start);
    start = comma + 1;
    if (part.empty()) return std::string(spec.name) + ": empty item in " + Quote(field);

    std::string_view base = part;
    int step = 1;
    size_t slash = part.find('/');
    if (slash != std::string_view::npos) {
      base = part.substr(0, slash);
      std::string_view step_text = part.substr(slash + 1);
      auto [ptr, ec] = std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
      if (ec != std::errc() || ptr != step_text.data() + step_text.size() || step < 1) {
        return std::string(spec.name) + ": step in " + Quote(part) + " must be a positive number";
      }
    }
    int low = spec.min;
    int high = spec.max;
    if (base != "*") {
      size_t dash = base.find('-');
      if (dash == std::string_view::npos) {
        if (auto problem = CronValue(base, spec, &low)) return problem;
        if (slash == std::string_view::npos) high = low;
      } else {
        if (auto problem = CronValue(base.substr(0, dash), spec, &low)) return problem;
        if (auto problem = CronValue(base.substr(dash + 1), spec, &high)) return problem;
        if (low > high) {
          return std::string(spec.name) + ": range " + Quote(base) + " goes backwards";
        }
      }
    }
    for (int v = low; v <= high; v += step) (*bits)[static_cast<size_t>(v)] = true;
  }
  return std::nullopt;
}

// A place in one of the files read; line and column 1-based.
struct Loc {
  size_t file = 0;
  int line = 1;
  int column = 1;
};

struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

const Entry* Find(const std::vector<Entry>& entries, std::string_view key) {
  for (const Entry& entry : entries) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

struct LocatedString {
  std::string text;
  Loc loc;
};

enum class RefKind { kStrategy, kCheck, kDriver };

// A name used somewhere, resolved once every file is read.
struct Reference {
  RefKind kind;
  std::string name;
  Loc loc;
  std::string context;
};

struct EnvironmentDraft {
  Environment environment;
  Loc after_loc;
  std::string context;
};

// Reads documents one after another into one draft, collecting every problem, then
// cross-checks names and orders the environments.
class Loader {
 public:
  void AddFile(std::string name, std::string_view text) {
    files_.push_back(std::move(name));
    file_ = files_.size() - 1;
    try {
      std::vector<YAML::Node> documents = YAML::LoadAll(std::string(text));
      for (size_t i = 1; i < documents.size(); ++i) {
        if (!documents[i].IsNull()) {
          Report(At(documents[i]),
                 "a second YAML document (after ---) is not allowed; put it in its own file");
          break;
        }
      }
      if (!documents.empty()) ParseTopLevel(documents[0]);
    } catch (const YAML::Exception& e) {
      Report(AtMark(e.mark), "invalid YAML: " + e.msg);
      incomplete_ = true;
    } catch (const std::exception& e) {
      Report(Loc{file_, 1, 1}, std::string("could not read the document: ") + e.what());
      incomplete_ = true;
    }
  }

  Result<Pipelines> Finish() {
    if (environment_items_ == 0 && problems_.empty()) {
      if (environments_key_) {
        Report(*environments_key_, "environments: the list is empty; define at least one");
      } else {
        Report(Loc{0, 1, 1},
               "no environments defined (expected a top-level \"environments\" list)");
      }
    }
    // With a file unread, names it defines would be reported as unknown: skip those checks.
    if (incomplete_) return ToError();
    ResolveReferences();
    std::vector<size_t> order = OrderEnvironments();
    if (!problems_.empty()) return ToError();

    Pipelines pipelines;
    for (size_t index : order) {
      Environment& environment = drafts_[index].environment;
      pipelines.environment_index.emplace(environment.name, pipelines.environments.size());
      pipelines.environments.push_back(std::move(environment));
    }
    pipelines.strategies = std::move(strategies_);
    pipelines.checks = std::move(checks_);
    pipelines.drivers = std::move(drivers_);
    pipelines.files = files_;
    return pipelines;
  }

 private:
  struct Problem {
    Loc loc;
    std::string message;
  };

  // ---- locations and reporting ----

  Loc AtMark(const YAML::Mark& mark) const {
    if (mark.is_null() || mark.line < 0) return Loc{file_, 1, 1};
    return Loc{file_, mark.line + 1, mark.column + 1};
  }
  Loc At(const YAML::Node& node) const { return AtMark(node.Mark()); }
  // An empty value has no useful mark of its own; point at its key.
  Loc ValueLoc(const Entry& entry) const {
    return entry.value.IsNull() ? At(entry.key_node) : At(entry.value);
  }
  SourceLocation Source(Loc loc) const {
    return SourceLocation{files_[loc.file], loc.line, loc.column};
  }

  void Report(Loc loc, std::string message) {
    // An anchor merged in several places reports its problems once.
    for (const Problem& problem : problems_) {
      if (problem.loc.file == loc.file && problem.loc.line == loc.line &&
          problem.loc.column == loc.column && problem.message == message) {
        return;
      }
    }
    problems_.push_back({loc, std::move(message)});
  }

  Error ToError() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return std::tie(a.loc.file, a.loc.line, a.loc.column) <
             std::tie(b.loc.file, b.loc.line, b.loc.column);
    });
    std::string message;
    for (size_t i = 0; i < problems_.size() && i < kMaxReportedProblems; ++i) {
      if (i > 0) message += '\n';
      message += Source(problems_[i].loc).ToString() + ": " + problems_[i].message;
    }
    if (problems_.size() > kMaxReportedProblems) {
      message +=
          "\n(and " + std::to_string(problems_.size() - kMaxReportedProblems) + " more problems)";
    }
    return Error(ErrorCode::kInvalid, message);
  }

  // ---- generic readers; each reports and returns nullopt on a problem ----

  // A mapping's entries in order; "<<" merge keys expanded (explicit keys win); duplicates and
  // non-string keys reported.
  std::vector<Entry> Entries(const YAML::Node& map, const std::string& context) {
    std::vector<Entry> entries;
    std::vector<Entry> merged;
    for (auto it = map.begin(); it != map.end(); ++it) {
      YAML::Node key = it->first;  // it-> yields a temporary: copy the handle
      if (!key.IsScalar()) {
        Report(At(key), Prefix(context) + "keys must be strings, got " + Describe(key));
        continue;
      }
      if (key.Scalar() == "<<" && key.Tag() != "!") {
        Merge(it->second, context, &merged);
        continue;
      }
      if (const Entry* first = Find(entries, key.Scalar())) {
        Loc first_loc = At(first->key_node);
        Report(At(key), Prefix(context) + "duplicate key " + Quote(key.Scalar()) +
                            " (first at line " + std::to_string(first_loc.line) + ", column " +
                            std::to_string(first_loc.column) + ")");
        continue;
      }
      entries.push_back(Entry{key.Scalar(), key, it->second});
    }
    for (Entry& entry : merged) {
      if (Find(entries, entry.key) == nullptr) entries.push_back(std::move(entry));
    }
    return entries;
  }

  void Merge(const YAML::Node& value, const std::string& context, std::vector<Entry>* out) {
    // An anchor can merge itself; a bound on nesting keeps that finite.
    if (merge_depth_ >= kMaxMergeDepth) {
      Report(At(value),
             Prefix(context) + "\"<<\" (merge) nested too deeply; does it merge itself?");
      return;
    }
    ++merge_depth_;
    MergeEntries(value, context, out);
    --merge_depth_;
  }

  void MergeEntries(const YAML::Node& value, const std::string& context, std::vector<Entry>* out) {
    auto add = [&](const YAML::Node& map) {
      for (Entry& entry : Entries(map, context)) {
        if (Find(*out, entry.key) == nullptr) out->push_back(std::move(entry));
      }
    };
    if (value.IsMap()) {
      add(value);
    } else if (value.IsSequence() && std::all_of(value.begin(), value.end(),
                                                 [](const auto& item) { return item.IsMap(); })) {
      for (const auto& item : value) add(item);
    } else {
      Report(At(value), Prefix(context) + "\"<<\" (merge) needs a mapping or a list of mappings");
    }
  }

  void CheckKeys(const std::vector<Entry>& entries, Names allowed, const std::string& context) {
    for (const Entry& entry : entries) {
      if (Contains(allowed, entry.key)) continue;
      std::string hint = allowed.empty() ? " (no keys are allowed here)"
                                         : SuggestOrList(entry.key, allowed, "expected one of: ");
      Report(At(entry.key_node), Prefix(context) + "unknown key " + Quote(entry.key) + hint);
    }
  }

  // For typed objects: a key of another type gets a precise message.
  void CheckTypedKeys(const std::vector<Entry>& entries, Names common, Names own,
                      std::span<const Names> all_types, Names type_names, size_t type,
                      const std::string& context, std::string_view what) {
    std::vector<std::string_view> allowed(common.begin(), common.end());
    allowed.insert(allowed.end(), own.begin(), own.end());
    for (const Entry& entry : entries) {
      if (Contains(allowed, entry.key)) continue;
      std::string owners;
      for (size_t t = 0; t < all_types.size(); ++t) {
        if (t != type && Contains(all_types[t], entry.key)) {
          owners += owners.empty() ? "" : ", ";
          owners += type_names[t];
        }
      }
      if (!owners.empty()) {
        Report(At(entry.key_node), Prefix(context) + "key " + Quote(entry.key) +
                                       " does not apply to a " + std::string(type_names[type]) +
                                       " " + std::string(what) + " (it is for: " + owners + ")");
      } else {
        Report(At(entry.key_node), Prefix(context) + "unknown key " + Quote(entry.key) +
                                       SuggestOrList(entry.key, allowed, "expected one of: "));
      }
    }
  }

  void Missing(Loc loc, const std::string& context, std::string_view key) {
    Report(loc, Prefix(context) + "missing required key " + Quote(key));
  }

  std::string KeyContext(const std::string& context, const Entry& entry) const {
    return Prefix(context) + entry.key + ": ";
  }

  std::optional<std::string> String(const Entry& entry, const std::string& context) {
    if (!entry.value.IsScalar()) {
      Report(ValueLoc(entry),
             KeyContext(context, entry) + "expected a string, got " + Describe(entry.value));
      return std::nullopt;
    }
    if (entry.value.Scalar().empty()) {
      Report(ValueLoc(entry), KeyContext(context, entry) + "must not be empty");
      return std::nullopt;
    }
    return entry.value.Scalar();
  }

  // A string in which {{variables}} are substituted later.
  std::optional<std::string> Template(const Entry& entry, const std::string& context) {
    std::optional<std::string> text = String(entry, context);
    if (text) {
      if (auto problem = TemplateProblem(*text)) {
        Report(ValueLoc(entry), KeyContext(context, entry) + *problem);
        return std::nullopt;
      }
    }
    return text;
  }

  std::optional<std::string> Url(const Entry& entry, const std::string& context) {
    std::optional<std::string> url = Template(entry, context);
    if (url && !StartsWith(*url, "http://") && !StartsWith(*url, "https://") &&
        !StartsWith(*url, "{{")) {
      Report(ValueLoc(entry), KeyContext(context, entry) + Quote(*url) +
                                  " must start with http://, https:// or a variable such as "
                                  "{{canary_url}}");
      return std::nullopt;
    }
    return url;
  }

  std::optional<int> Integer(const Entry& entry, const std::string& context, int min,
                             std::optional<int> max) {
    const std::string& text = entry.value.IsScalar() ? entry.value.Scalar() : std::string();
    int value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (!entry.value.IsScalar() || text.empty() || ec != std::errc() ||
        ptr != text.data() + text.size()) {
      Report(ValueLoc(entry),
             KeyContext(context, entry) + "expected a whole number, got " + Describe(entry.value));
      return std::nullopt;
    }
    if (value < min || (max && value > *max)) {
      std::string bounds = max ? "between " + std::to_string(min) + " and " + std::to_string(*max)
                               : "at least " + std::to_string(min);
      Report(ValueLoc(entry), KeyContext(context, entry) + "must be " + bounds + ", got " + text);
      return std::nullopt;
    }
    return value;
  }

  std::optional<double> Number(const Entry& entry, const std::string& context) {
    const std::string& text = entry.value.IsScalar() ? entry.value.Scalar() : std::string();
    double value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (!entry.value.IsScalar() || text.empty() || ec != std::errc() ||
        ptr != text.data() + text.size() || !std::isfinite(value)) {
      Report(ValueLoc(entry),
             KeyContext(context, entry) + "expected a number, got " + Describe(entry.value));
      return std::nullopt;
    }
    return value;
  }

  // A number between 0 and 1: a fraction of requests.
  std::optional<double> Fraction(const Entry& entry, const std::string& context) {
    std::optional<double> value = Number(entry, context);
    if (value && (*value < 0 || *value > 1)) {
      Report(ValueLoc(entry), KeyContext(context, entry) +
                                  "must be between 0 and 1 (a fraction of requests), got " +
                                  entry.value.Scalar());
      return std::nullopt;
    }
    return value;
  }

  // HTTP statuses: one number or a list of them, each 100..599, none twice.
  std::optional<std::vector<int>> StatusList(const Entry& entry, const std::string& context) {
    constexpr int kLowest = 100;
    constexpr int kHighest = 599;
    if (entry.value.IsScalar()) {
      std::optional<int> status = Integer(entry, context, kLowest, kHighest);
      if (!status) return std::nullopt;
      return std::vector<int>{*status};
    }
    if (!entry.value.IsSequence()) {
      Report(ValueLoc(entry), KeyContext(context, entry) +
                                  "expected a status (200) or a list of them ([200, 204]), got " +
                                  Describe(entry.value));
      return std::nullopt;
    }
    std::vector<int> statuses;
    bool ok = true;
    size_t index = 0;
    for (const auto& item : entry.value) {
      ++index;
      std::string where = KeyContext(context, entry) + "item " + std::to_string(index) + ": ";
      const std::string text = item.IsScalar() ? item.Scalar() : std::string();
      int status = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), status);
      if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
        Report(item.IsNull() ? ValueLoc(entry) : At(item),
               where + "expected a whole number, got " + Describe(item));
        ok = false;
      } else if (status < kLowest || status > kHighest) {
        Report(At(item), where + "must be between " + std::to_string(kLowest) + " and " +
                             std::to_string(kHighest) + ", got " + text);
        ok = false;
      } else if (std::find(statuses.begin(), statuses.end(), status) != statuses.end()) {
        Report(At(item), where + text + " is listed twice");
        ok = false;
      } else {
        statuses.push_back(status);
      }
    }
    if (!ok) return std::nullopt;
    return statuses;
  }

  std::optional<bool> Bool(const Entry& entry, const std::string& context) {
    if (entry.value.IsScalar()) {
      const std::string& text = entry.value.Scalar();
      if (text == "true" || text == "True" || text == "TRUE") return true;
      if (text == "false" || text == "False" || text == "FALSE") return false;
    }
    Report(ValueLoc(entry),
           KeyContext(context, entry) + "expected true or false, got " + Describe(entry.value));
    return std::nullopt;
  }

  std::optional<milliseconds> Duration(const Entry& entry, const std::string& context,
                                       bool allow_zero) {
    if (!entry.value.IsScalar()) {
      Report(ValueLoc(entry), KeyContext(context, entry) + "expected a duration (like 30s), got " +
                                  Describe(entry.value));
      return std::nullopt;
    }
    Result<milliseconds> duration = ParseDuration(entry.value.Scalar());
    if (!duration.ok()) {
      Report(ValueLoc(entry), KeyContext(context, entry) + duration.error().message());
      return std::nullopt;
    }
    if (!allow_zero && duration->count() == 0) {
      Report(ValueLoc(entry), KeyContext(context, entry) + "must be longer than 0");
      return std::nullopt;
    }
    return *duration;
  }

  // Null is an empty list.
  std::optional<std::vector<LocatedString>> StringList(const Entry& entry,
                                                       const std::string& context, bool allow_empty,
                                                       bool is_template) {
    std::vector<LocatedString> items;
    if (!entry.value.IsNull() && !entry.value.IsSequence()) {
      Report(ValueLoc(entry), KeyContext(context, entry) + "expected a list of strings, got " +
                                  Describe(entry.value));
      return std::nullopt;
    }
    bool ok = true;
    size_t index = 0;
    for (const auto& item : entry.value) {
      ++index;
      std::string where = KeyContext(context, entry) + "item " + std::to_string(index) + ": ";
      if (!item.IsScalar() || item.Scalar().empty()) {
        Report(item.IsNull() ? ValueLoc(entry) : At(item),
               where + "expected a non-empty string, got " + Describe(item));
        ok = false;
        continue;
      }
      if (is_template) {
        if (auto problem = TemplateProblem(item.Scalar())) {
          Report(At(item), where + *problem);
          ok = false;
          continue;
        }
      }
      items.push_back(LocatedString{item.Scalar(), At(item)});
    }
    if (!ok) return std::nullopt;
    if (items.empty() && !allow_empty) {
      Report(ValueLoc(entry), KeyContext(context, entry) + "must not be empty");
      return std::nullopt;
    }
    return items;
  }

  static std::vector<std::string> Texts(const std::vector<LocatedString>& items) {
    std::vector<std::string> texts;
    texts.reserve(items.size());
    for (const LocatedString& item : items) texts.push_back(item.text);
    return texts;
  }

  // ---- the document ----

  void ParseTopLevel(const YAML::Node& root) {
    if (root.IsNull()) return;  // an empty file
    if (!root.IsMap()) {
      Report(At(root),
             "the top level must be a mapping of environments, strategies, checks and drivers, "
             "got " +
                 Describe(root));
      return;
    }
    std::vector<Entry> entries = Entries(root, "");
    for (const Entry& entry : entries) {
      // "x-" keys are free for the user, e.g. to hold YAML anchors.
      if (!Contains(kTopLevelKeys, entry.key) && !StartsWith(entry.key, "x-")) {
        Report(At(entry.key_node),
               "unknown top-level key " + Quote(entry.key) +
                   SuggestOrList(entry.key, kTopLevelKeys, "expected one of: "));
      }
    }
    if (const Entry* e = Find(entries, "environments")) ParseEnvironments(*e);
    if (const Entry* e = Find(entries, "strategies")) {
      ParseNamed(
          *e, "strategy", "canary: { steps: [...] }",
          [this](const YAML::Node& key, const YAML::Node& value) { ParseStrategy(key, value); });
    }
    if (const Entry* e = Find(entries, "checks")) {
      ParseNamed(
          *e, "check", "healthz: { type: http, url: ... }",
          [this](const YAML::Node& key, const YAML::Node& value) { ParseCheck(key, value); });
    }
    if (const Entry* e = Find(entries, "drivers")) {
      ParseNamed(
          *e, "driver", "local: { type: local }",
          [this](const YAML::Node& key, const YAML::Node& value) { ParseDriver(key, value); });
    }
  }

  // strategies, checks and drivers: a mapping of name to definition.
  template <typename ParseOne>
  void ParseNamed(const Entry& section, std::string_view what, std::string_view example,
                  ParseOne parse_one) {
    if (section.value.IsNull()) return;
    if (!section.value.IsMap()) {
      Report(ValueLoc(section), section.key + ": expected a mapping of name to " +
                                    std::string(what) + " (" + std::string(example) + "), got " +
                                    Describe(section.value));
      return;
    }
    for (auto it = section.value.begin(); it != section.value.end(); ++it) {
      YAML::Node key = it->first;  // it-> yields a temporary: copy the handles
      YAML::Node value = it->second;
      if (!key.IsScalar()) {
        Report(At(key), section.key + ": names must be strings, got " + Describe(key));
        continue;
      }
      const std::string& name = key.Scalar();
      if (!IsObjectName(name)) {
        Report(At(key), std::string(what) + " " + Quote(name) +
                            ": invalid name (letters, digits, '-', '_' and '.', starting "
                            "with a letter or digit, at most 63 characters)");
      }
      parse_one(key, value);
    }
  }

  template <typename T>
  void Define(std::map<std::string, T, std::less<>>* definitions, T value, Loc loc,
              const std::string& context) {
    std::string name = value.name;
    auto [it, inserted] = definitions->emplace(std::move(name), std::move(value));
    if (!inserted) {
      Report(loc, context + ": already defined at " + it->second.location.ToString());
    }
  }

  void ParseEnvironments(const Entry& section) {
    if (!environments_key_) environments_key_ = At(section.key_node);
    if (section.value.IsNull()) return;
    if (!section.value.IsSequence()) {
      Report(ValueLoc(section),
             "environments: expected a list (- name: dev ...), got " + Describe(section.value));
      return;
    }
    size_t ordinal = 0;
    for (const auto& item : section.value) ParseEnvironment(item, ++ordinal);
  }

  void ParseEnvironment(const YAML::Node& node, size_t ordinal) {
    std::string context = "environment " + std::to_string(ordinal);
    if (!node.IsMap()) {
      Report(At(node), context + ": expected a mapping (name: ..., driver: ..., strategy: ...), " +
                           "got " + Describe(node));
      return;
    }
    ++environment_items_;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == "name" && it->second.IsScalar() &&
          !it->second.Scalar().empty()) {
        context = "environment " + Quote(it->second.Scalar());
        break;
      }
    }
    Loc loc = At(node);
    EnvironmentDraft draft;
    draft.context = context;
    Environment& environment = draft.environment;
    environment.location = Source(loc);
    std::vector<Entry> entries = Entries(node, context);
    CheckKeys(entries, kEnvironmentKeys, context);

    Loc name_loc = loc;
    if (const Entry* e = Find(entries, "name")) {
      name_loc = ValueLoc(*e);
      if (auto name = String(*e, context)) {
        environment.name = *name;
        if (!IsEnvironmentName(*name)) {
          Report(name_loc, context +
                               ": invalid name (lowercase letters, digits and '-', starting with a "
                               "letter or digit, at most 63 characters)");
        }
      }
    } else {
      Missing(loc, context, "name");
    }
    if (const Entry* e = Find(entries, "after")) {
      if (auto after = String(*e, context)) {
        environment.after = *after;
        draft.after_loc = ValueLoc(*e);
      }
    }
    RequireReference(entries, "driver", RefKind::kDriver, context, loc, &environment.driver);
    RequireReference(entries, "strategy", RefKind::kStrategy, context, loc, &environment.strategy);
    if (const Entry* e = Find(entries, "soak")) {
      environment.soak = Duration(*e, context, /*allow_zero=*/true);
      if (environment.soak && Find(entries, "after") == nullptr) {
        Report(ValueLoc(*e), context +
                                 ": soak: needs \"after\" (soak is how long a version must have "
                                 "been stable in the previous environment)");
      }
    }
    if (const Entry* e = Find(entries, "approvals")) {
      environment.approvals = ParseApprovals(*e, context);
    }
    if (const Entry* e = Find(entries, "freeze")) ParseFreeze(*e, context, &environment.freeze);
    if (const Entry* e = Find(entries, "on_freeze")) {
      if (auto policy = String(*e, context)) {
        if (*policy == "refuse") {
          environment.on_freeze = OnFreeze::kRefuse;
        } else if (*policy == "wait") {
          environment.on_freeze = OnFreeze::kWait;
        } else {
          Report(ValueLoc(*e),
                 context + ": on_freeze: expected refuse or wait, got " + Quote(*policy));
        }
      }
    }
    if (const Entry* e = Find(entries, "progress_deadline")) {
      environment.progress_deadline = Duration(*e, context, /*allow_zero=*/false);
    }

    if (environment.name.empty()) return;
    auto [it, inserted] = environment_index_.emplace(environment.name, drafts_.size());
    if (!inserted) {
      Report(name_loc, context + ": already defined at " +
                           drafts_[it->second].environment.location.ToString());
      return;
    }
    drafts_.push_back(std::move(draft));
  }

  void RequireReference(const std::vector<Entry>& entries, std::string_view key, RefKind kind,
                        const std::string& context, Loc loc, std::string* out) {
    const Entry* e = Find(entries, key);
    if (e == nullptr) {
      Missing(loc, context, key);
      return;
    }
    if (auto name = String(*e, context)) {
      *out = *name;
      references_.push_back(Reference{kind, *name, ValueLoc(*e), context});
    }
  }

  std::optional<Approvals> ParseApprovals(const Entry& entry, const std::string& context) {
    std::string approvals_context = Prefix(context) + "approvals";
    Approvals approvals;
    if (entry.value.IsNull()) return approvals;
    if (!entry.value.IsMap()) {
      Report(ValueLoc(entry), approvals_context +
                                  ": expected a mapping ({ count: 1, roles: [...] }), got " +
                                  Describe(entry.value));
      return std::nullopt;
    }
    std::vector<Entry> entries = Entries(entry.value, approvals_context);
    CheckKeys(entries, kApprovalKeys, approvals_context);
    if (const Entry* e = Find(entries, "count")) {
      if (auto count = Integer(*e, approvals_context, 1, std::nullopt)) approvals.count = *count;
    }
    if (const Entry* e = Find(entries, "roles")) {
      if (auto roles = StringList(*e, approvals_context, /*allow_empty=*/true, false)) {
        approvals.roles = Texts(*roles);
      }
    }
    if (const Entry* e = Find(entries, "not_requester")) {
      if (auto not_requester = Bool(*e, approvals_context)) {
        approvals.not_requester = *not_requester;
      }
    }
    return approvals;
  }

  void ParseFreeze(const Entry& entry, const std::string& context,
                   std::vector<FreezeWindow>* windows) {
    if (entry.value.IsNull()) return;
    if (!entry.value.IsSequence()) {
      Report(ValueLoc(entry), Prefix(context) +
                                  "freeze: expected a list of windows (- { cron: \"0 18 * * FRI\", "
                                  "duration: 62h, timezone: Europe/Berlin }), got " +
                                  Describe(entry.value));
      return;
    }
    size_t ordinal = 0;
    for (const auto& item : entry.value) {
      std::string window_context = Prefix(context) + "freeze window " + std::to_string(++ordinal);
      if (!item.IsMap()) {
        Report(item.IsNull() ? ValueLoc(entry) : At(item),
               window_context + ": expected a mapping ({ cron: ..., duration: ... }), got " +
                   Describe(item));
        continue;
      }
      std::vector<Entry> entries = Entries(item, window_context);
      CheckKeys(entries, kFreezeKeys, window_context);
      FreezeWindow window;
      bool ok = true;
      const Entry* from = Find(entries, "from");
      const Entry* to = Find(entries, "to");
      if (from != nullptr || to != nullptr) {
        // A one-off range: from and to, and no cron or duration.
        for (std::string_view key : {"cron", "duration"}) {
          if (const Entry* e = Find(entries, key)) {
            Report(At(e->key_node), window_context + ": " + std::string(key) +
                                        ": not allowed in a one-off range (from/to)");
            ok = false;
          }
        }
        auto civil = [&](const Entry* e, std::string_view key) -> std::optional<int64_t> {
          if (e == nullptr) {
            Missing(At(item), window_context, key);
            return std::nullopt;
          }
          std::optional<std::string> text = String(*e, window_context);
          if (!text) return std::nullopt;
          Result<int64_t> parsed = ParseCivil(*text);
          if (!parsed.ok()) {
            Report(ValueLoc(*e),
                   window_context + ": " + std::string(key) + ": " + parsed.error().message());
            return std::nullopt;
          }
          return *parsed;
        };
        window.from_civil_s = civil(from, "from");
        window.to_civil_s = civil(to, "to");
        ok = ok && window.from_civil_s && window.to_civil_s;
        if (ok && *window.to_civil_s <= *window.from_civil_s) {
          Report(ValueLoc(*to), window_context + ": to: must be after from");
          ok = false;
        }
      } else if (const Entry* e = Find(entries, "cron")) {
        std::optional<std::string> text = String(*e, window_context);
        if (text) {
          Result<CronSchedule> cron = ParseCron(*text);
          if (cron.ok()) {
            window.cron = *cron;
          } else {
            Report(ValueLoc(*e),
                   window_context + ": cron " + Quote(*text) + ": " + cron.error().message());
          }
          ok = ok && cron.ok();
        }
        ok = ok && text.has_value();
        if (const Entry* d = Find(entries, "duration")) {
          auto duration = Duration(*d, window_context, /*allow_zero=*/false);
          if (duration) window.duration = *duration;
          ok = ok && duration.has_value();
        } else {
          Missing(At(item), window_context, "duration");
          ok = false;
        }
      } else {
        Missing(At(item), window_context, "cron (or from and to)");
        ok = false;
      }
      if (const Entry* e = Find(entries, "reason")) {
        if (auto reason = String(*e, window_context)) window.reason = *reason;
      }
      if (const Entry* e = Find(entries, "timezone")) {
        std::optional<std::string> timezone = String(*e, window_context);
        if (timezone) {
          if (auto problem = TimezoneProblem(*timezone)) {
            Report(ValueLoc(*e), window_context + ": timezone: " + *problem);
            timezone.reset();
          } else {
            window.timezone = *timezone;
          }
        }
        ok = ok && timezone.has_value();
      }
      if (ok) windows->push_back(std::move(window));
    }
  }

  void ParseStrategy(const YAML::Node& key, const YAML::Node& node) {
    std::string context = "strategy " + Quote(key.Scalar());
    Loc loc = At(key);
    Strategy strategy;
    strategy.name = key.Scalar();
    strategy.location = Source(loc);
    if (node.IsMap()) {
      std::vector<Entry> entries = Entries(node, context);
      CheckKeys(entries, kStrategyKeys, context);
      if (const Entry* e = Find(entries, "steps")) {
        if (e->value.IsSequence()) {
          size_t ordinal = 0;
          for (const auto& item : e->value) ParseStep(item, context, ++ordinal, &strategy.steps);
        } else if (!e->value.IsNull()) {
          Report(ValueLoc(*e), context + ": steps: expected a list (- weight: 10 ...), got " +
                                   Describe(e->value));
        }
      }
    } else if (!node.IsNull()) {
      Report(At(node), context + ": expected a mapping ({ steps: [...] }), got " + Describe(node));
    }
    Define(&strategies_, std::move(strategy), loc, context);
  }

  void ParseStep(const YAML::Node& node, const std::string& strategy_context, size_t ordinal,
                 std::vector<Step>* steps) {
    std::string context = strategy_context + ": step " + std::to_string(ordinal);
    if (!node.IsMap()) {
      Report(At(node), context +
                           ": expected a mapping with one of weight, pause, analyze, approve "
                           "(like - weight: 10), got " +
                           Describe(node));
      return;
    }
    std::vector<Entry> entries = Entries(node, context);
    if (entries.empty()) {
      Report(At(node), context + ": empty step; expected one of weight, pause, analyze, approve");
      return;
    }
    const Entry& step = entries[0];
    if (entries.size() > 1) {
      Report(At(entries[1].key_node),
             context + ": a step has exactly one of weight, pause, analyze, approve; found " +
                 Quote(step.key) + " and " + Quote(entries[1].key) +
                 " (start each step with \"- \")");
      return;
    }
    if (step.key == "weight") {
      if (auto percent = Integer(step, context, 0, 100)) steps->push_back(WeightStep{*percent});
    } else if (step.key == "pause") {
      ParsePause(step, context, steps);
    } else if (step.key == "analyze") {
      ParseAnalyze(step, context, steps);
    } else if (step.key == "approve") {
      if (step.value.IsMap()) {
        CheckKeys(Entries(step.value, context), {}, context + ": approve");
      } else if (!step.value.IsNull()) {
        Report(ValueLoc(step), context + ": approve: expected {}, got " + Describe(step.value));
        return;
      }
      steps->push_back(ApproveStep{});
    } else {
      Report(At(step.key_node), context + ": unknown step " + Quote(step.key) +
                                    SuggestOrList(step.key, kStepKinds, "expected one of: "));
    }
  }

  void ParsePause(const Entry& step, const std::string& context, std::vector<Step>* steps) {
    if (step.value.IsScalar()) {
      if (auto duration = Duration(step, context, /*allow_zero=*/false)) {
        steps->push_back(PauseStep{*duration});
      }
      return;
    }
    if (!step.value.IsMap()) {
      Report(ValueLoc(step), context +
                                 ": pause: expected a duration (pause: 30s) or {} to wait for an "
                                 "operator, got " +
                                 Describe(step.value));
      return;
    }
    std::string pause_context = context + ": pause";
    std::vector<Entry> entries = Entries(step.value, pause_context);
    CheckKeys(entries, kPauseKeys, pause_context);
    PauseStep pause;
    if (const Entry* e = Find(entries, "duration")) {
      pause.duration = Duration(*e, pause_context, /*allow_zero=*/false);
      if (!pause.duration) return;
    }
    steps->push_back(pause);
  }

  void ParseAnalyze(const Entry& step, const std::string& context, std::vector<Step>* steps) {
    std::string analyze_context = context + ": analyze";
    if (!step.value.IsMap()) {
      Report(ValueLoc(step),
             analyze_context +
                 ": expected a mapping ({ checks: [...], duration: 30s, count: 5 }), got " +
                 Describe(step.value));
      return;
    }
    Loc loc = At(step.value);
    std::vector<Entry> entries = Entries(step.value, analyze_context);
    CheckKeys(entries, kAnalyzeKeys, analyze_context);
    AnalyzeStep analyze;
    bool ok = true;
    if (const Entry* e = Find(entries, "checks")) {
      auto checks = StringList(*e, analyze_context, /*allow_empty=*/false, false);
      if (checks) {
        for (size_t i = 0; i < checks->size(); ++i) {
          const LocatedString& check = (*checks)[i];
          for (size_t j = 0; j < i; ++j) {
            if ((*checks)[j].text == check.text) {
              Report(check.loc,
                     analyze_context + ": checks: " + Quote(check.text) + " is listed twice");
              ok = false;
            }
          }
          references_.push_back(Reference{RefKind::kCheck, check.text, check.loc, analyze_context});
        }
        analyze.checks = Texts(*checks);
      }
      ok = ok && checks.has_value();
    } else {
      Missing(loc, analyze_context, "checks");
      ok = false;
    }
    // How long, how many measurements, or both: the step ends when both are reached.
    const Entry* duration_entry = Find(entries, "duration");
    const Entry* count_entry = Find(entries, "count");
    if (duration_entry != nullptr) {
      auto duration = Duration(*duration_entry, analyze_context, /*allow_zero=*/false);
      if (duration) analyze.duration = *duration;
      ok = ok && duration.has_value();
    }
    if (count_entry != nullptr) {
      auto count = Integer(*count_entry, analyze_context, 1, std::nullopt);
      if (count) analyze.count = *count;
      ok = ok && count.has_value();
    }
    if (duration_entry == nullptr && count_entry == nullptr) {
      Report(loc, analyze_context +
                      ": needs \"duration\" (how long to measure), \"count\" (how many "
                      "measurements of each check) or both");
      ok = false;
    }
    if (ok) steps->push_back(std::move(analyze));
  }

  // Reads "type" and reports unknown keys of typed objects; the index of the type or nullopt.
  std::optional<size_t> ParseType(const std::vector<Entry>& entries, Names common,
                                  std::span<const Names> type_keys, Names type_names,
                                  const std::string& context, std::string_view what, Loc loc) {
    const Entry* e = Find(entries, "type");
    if (e == nullptr) {
      Report(loc, context + ": missing required key \"type\" (one of " + Join(type_names) + ")");
      return std::nullopt;
    }
    std::optional<std::string> name = String(*e, context);
    if (!name) return std::nullopt;
    for (size_t t = 0; t < type_names.size(); ++t) {
      if (type_names[t] == *name) {
        CheckTypedKeys(entries, common, type_keys[t], type_keys, type_names, t, context, what);
        return t;
      }
    }
    Report(ValueLoc(*e), context + ": type: unknown " + std::string(what) + " type " +
                             Quote(*name) + SuggestOrList(*name, type_names, "expected one of: "));
    return std::nullopt;
  }

  void ParseCheck(const YAML::Node& key, const YAML::Node& node) {
    std::string context = "check " + Quote(key.Scalar());
    Loc loc = At(key);
    Check check;
    check.name = key.Scalar();
    check.location = Source(loc);
    if (!node.IsMap()) {
      Report(node.IsNull() ? loc : At(node),
             context + ": expected a mapping ({ type: http, url: ... }), got " + Describe(node));
    } else {
      ParseCheckBody(node, context, loc, &check);
    }
    Define(&checks_, std::move(check), loc, context);
  }

  void ParseCheckBody(const YAML::Node& node, const std::string& context, Loc loc, Check* check) {
    std::vector<Entry> entries = Entries(node, context);
    std::optional<size_t> type =
        ParseType(entries, kCheckCommonKeys, kCheckTypeKeys, kCheckTypes, context, "check", loc);
    if (!type) return;
    check->type = static_cast<CheckType>(*type);
    if (const Entry* e = Find(entries, "interval")) {
      if (auto interval = Duration(*e, context, /*allow_zero=*/false)) check->interval = *interval;
    }
    if (const Entry* e = Find(entries, "failure_limit")) {
      if (auto limit = Integer(*e, context, 1, std::nullopt)) check->failure_limit = *limit;
    }
    if (const Entry* e = Find(entries, "consecutive_error_limit")) {
      if (auto limit = Integer(*e, context, 1, std::nullopt)) {
        check->consecutive_error_limit = *limit;
      }
    }
    if (const Entry* e = Find(entries, "timeout")) {
      if (auto timeout = Duration(*e, context, /*allow_zero=*/false)) check->timeout = *timeout;
    }
    std::string requires_prefix =
        context + ": type " + std::string(kCheckTypes[*type]) + " requires ";
    switch (check->type) {
      case CheckType::kHttp:
        if (const Entry* e = Find(entries, "url")) {
          check->url = Url(*e, context).value_or("");
        } else {
          Report(loc, requires_prefix + "\"url\"");
        }
        if (const Entry* e = Find(entries, "expected_status")) {
          check->expected_status = StatusList(*e, context).value_or(std::vector<int>{});
        }
        if (const Entry* e = Find(entries, "body_contains")) {
          check->body_contains = String(*e, context).value_or("");
        }
        if (const Entry* e = Find(entries, "max_latency")) {
          check->max_latency = Duration(*e, context, /*allow_zero=*/false);
        }
        break;
      case CheckType::kPrometheus: {
        if (const Entry* e = Find(entries, "address")) {
          check->address = Url(*e, context).value_or("");
        } else {
          Report(loc, requires_prefix + "\"address\" (the Prometheus server's URL)");
        }
        if (const Entry* e = Find(entries, "query")) {
          check->query = Template(*e, context).value_or("");
        } else {
          Report(loc, requires_prefix + "\"query\"");
        }
        const Entry* min = Find(entries, "min");
        const Entry* max = Find(entries, "max");
        if (min != nullptr) check->min = Number(*min, context);
        if (max != nullptr) check->max = Number(*max, context);
        if (min == nullptr && max == nullptr) {
          Report(loc, requires_prefix + "\"min\" or \"max\" (the range a healthy value lies in)");
        } else if (check->min && check->max && *check->min > *check->max) {
          Report(ValueLoc(*max), context + ": max: " + max->value.Scalar() + " is below min " +
                                     min->value.Scalar());
        }
        break;
      }
      case CheckType::kExec:
        if (const Entry* e = Find(entries, "command")) {
          if (auto command = StringList(*e, context, /*allow_empty=*/false, true)) {
            check->command = Texts(*command);
          }
        } else {
          Report(loc, requires_prefix + "\"command\" (a list: [program, arguments...])");
        }
        break;
      case CheckType::kTraffic: {
        const Entry* rate = Find(entries, "max_error_rate");
        const Entry* latency = Find(entries, "max_latency");
        const Entry* increase = Find(entries, "max_error_rate_increase");
        if (rate != nullptr) check->max_error_rate = Fraction(*rate, context);
        if (latency != nullptr) check->max_latency = Duration(*latency, context, false);
        if (increase != nullptr) check->max_error_rate_increase = Fraction(*increase, context);
        if (rate == nullptr && latency == nullptr && increase == nullptr) {
          Report(loc, requires_prefix +
                          "\"max_error_rate\", \"max_latency\" or \"max_error_rate_increase\"");
        }
        if (const Entry* e = Find(entries, "min_requests")) {
          if (auto min_requests = Integer(*e, context, 1, std::nullopt)) {
            check->min_requests = *min_requests;
          }
        }
        break;
      }
    }
  }

  void ParseDriver(const YAML::Node& key, const YAML::Node& node) {
    std::string context = "driver " + Quote(key.Scalar());
    Loc loc = At(key);
    Driver driver;
    driver.name = key.Scalar();
    driver.location = Source(loc);
    if (!node.IsMap()) {
      Report(node.IsNull() ? loc : At(node),
             context + ": expected a mapping ({ type: local }), got " + Describe(node));
    } else {
      ParseDriverBody(node, context, loc, &driver);
    }
    Define(&drivers_, std::move(driver), loc, context);
  }

  void ParseDriverBody(const YAML::Node& node, const std::string& context, Loc loc,
                       Driver* driver) {
    std::vector<Entry> entries = Entries(node, context);
    std::optional<size_t> type = ParseType(entries, kDriverCommonKeys, kDriverTypeKeys,
                                           kDriverTypes, context, "driver", loc);
    if (!type) return;
    driver->type = static_cast<DriverType>(*type);
    std::string requires_prefix =
        context + ": type " + std::string(kDriverTypes[*type]) + " requires ";
    switch (driver->type) {
      case DriverType::kLocal:
        break;
      case DriverType::kExec:
        if (const Entry* e = Find(entries, "command")) {
          if (auto command = StringList(*e, context, /*allow_empty=*/false, true)) {
            driver->command = Texts(*command);
          }
        } else {
          Report(loc, requires_prefix + "\"command\" (a list: [program, arguments...])");
        }
        break;
      case DriverType::kWebhook:
        if (const Entry* e = Find(entries, "url")) {
          driver->url = Url(*e, context).value_or("");
        } else {
          Report(loc, requires_prefix + "\"url\"");
        }
        if (const Entry* e = Find(entries, "secret_env")) {
          std::optional<std::string> name = String(*e, context);
          if (name && !IsEnvVarName(*name)) {
            Report(ValueLoc(*e),
                   context + ": secret_env: " + Quote(*name) +
                       " is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
          } else if (name) {
            driver->secret_env = *name;
          }
        }
        break;
      case DriverType::kNginx:
        if (const Entry* e = Find(entries, "upstreams_file")) {
          driver->upstreams_file = String(*e, context).value_or("");
        } else {
          Report(loc, requires_prefix + "\"upstreams_file\"");
        }
        driver->reload = {"nginx", "-s", "reload"};
        if (const Entry* e = Find(entries, "reload")) {
          if (auto reload = StringList(*e, context, /*allow_empty=*/false, false)) {
            driver->reload = Texts(*reload);
          }
        }
        break;
    }
  }

  // ---- cross-file checks ----

  void ResolveReferences() {
    for (const Reference& reference : references_) {
      std::vector<std::string_view> names;
      std::string_view kind;
      std::string_view plural;
      switch (reference.kind) {
        case RefKind::kStrategy:
          if (strategies_.contains(reference.name)) continue;
          names = KeysOf(strategies_);
          kind = "strategy";
          plural = "strategies";
          break;
        case RefKind::kCheck:
          if (checks_.contains(reference.name)) continue;
          names = KeysOf(checks_);
          kind = "check";
          plural = "checks";
          break;
        case RefKind::kDriver:
          if (drivers_.contains(reference.name)) continue;
          names = KeysOf(drivers_);
          kind = "driver";
          plural = "drivers";
          break;
      }
      Report(reference.loc, Prefix(reference.context) + "unknown " + std::string(kind) + " " +
                                Quote(reference.name) + Known(reference.name, names, plural));
    }
  }

  static std::string Known(std::string_view name, Names names, std::string_view plural) {
    if (names.empty()) return " (no " + std::string(plural) + " are defined)";
    std::string suggestion = DidYouMean(name, names);
    if (!suggestion.empty()) return suggestion;
    if (names.size() <= 10) return " (defined: " + Join(names) + ")";
    return "";
  }

  // Pipeline order: a topological order of `after` in which, among the environments that are
  // ready, the one defined first comes first. Reports unknown `after` names and cycles.
  std::vector<size_t> OrderEnvironments() {
    size_t count = drafts_.size();
    std::vector<std::optional<size_t>> parent(count);
    std::vector<std::vector<size_t>> children(count);
    for (size_t i = 0; i < count; ++i) {
      const Environment& environment = drafts_[i].environment;
      if (!environment.after) continue;
      auto it = environment_index_.find(*environment.after);
      if (it == environment_index_.end()) {
        Report(drafts_[i].after_loc,
               drafts_[i].context + ": after: unknown environment " + Quote(*environment.after) +
                   Known(*environment.after, KeysOf(environment_index_), "environments"));
        continue;
      }
      parent[i] = it->second;
      children[it->second].push_back(i);
    }
    std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
    for (size_t i = 0; i < count; ++i) {
      if (!parent[i]) ready.push(i);
    }
    std::vector<size_t> order;
    std::vector<bool> placed(count, false);
    while (!ready.empty()) {
      size_t i = ready.top();
      ready.pop();
      order.push_back(i);
      placed[i] = true;
      for (size_t child : children[i]) ready.push(child);
    }
    // What is left hangs on a cycle: each environment has one `after`, so following it from any
    // of them ends in a loop. Report each loop once, at its first-defined member.
    std::vector<size_t> walk_of(count, 0);
    for (size_t start = 0; start < count; ++start) {
      if (placed[start] || walk_of[start] != 0) continue;
      size_t node = start;
      while (walk_of[node] == 0) {
        walk_of[node] = start + 1;
        node = *parent[node];
      }
      if (walk_of[node] != start + 1) continue;  // joins a loop found earlier
      std::vector<size_t> loop = {node};
      for (size_t next = *parent[node]; next != node; next = *parent[next]) loop.push_back(next);
      auto first = std::min_element(loop.begin(), loop.end());
      std::rotate(loop.begin(), first, loop.end());
      std::string path;
      for (size_t member : loop) path += drafts_[member].environment.name + " after ";
      path += drafts_[loop.front()].environment.name;
      Report(drafts_[loop.front()].after_loc,
             drafts_[loop.front()].context + ": after: forms a cycle: " + path);
    }
    return order;
  }

  std::vector<std::string> files_;
  size_t file_ = 0;
  std::vector<Problem> problems_;
  bool incomplete_ = false;  // a file could not be parsed
  int merge_depth_ = 0;

  std::vector<EnvironmentDraft> drafts_;
  std::map<std::string, size_t, std::less<>> environment_index_;  // into drafts_
  size_t environment_items_ = 0;
  std::optional<Loc> environments_key_;
  std::map<std::string, Strategy, std::less<>> strategies_;
  std::map<std::string, Check, std::less<>> checks_;
  std::map<std::string, Driver, std::less<>> drivers_;
  std::vector<Reference> references_;
};

Result<std::string> ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return Error(ErrorCode::kIo, file.string() + ": cannot open: " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error(ErrorCode::kIo, file.string() + ": read failed");
  return text.str();
}

}  // namespace

std::string SourceLocation::ToString() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string_view CheckTypeName(CheckType type) { return kCheckTypes[static_cast<size_t>(type)]; }

std::string_view DriverTypeName(DriverType type) { return kDriverTypes[static_cast<size_t>(type)]; }

const Environment* Pipelines::FindEnvironment(std::string_view name) const {
  auto it = environment_index.find(name);
  return it == environment_index.end() ? nullptr : &environments[it->second];
}

bool CronSchedule::Matches(int minute, int hour, int day_of_month, int month,
                           int day_of_week) const {
  if (minute < 0 || minute > 59 || hour < 0 || hour > 23 || day_of_month < 1 || day_of_month > 31 ||
      month < 1 || month > 12 || day_of_week < 0 || day_of_week > 6) {
    return false;
  }
  if (!minutes[static_cast<size_t>(minute)] || !hours[static_cast<size_t>(hour)] ||
      !months[static_cast<size_t>(month)]) {
    return false;
  }
  bool dom = days_of_month[static_cast<size_t>(day_of_month)];
  bool dow = days_of_week[static_cast<size_t>(day_of_week)];
  if (day_of_month_star || day_of_week_star) return dom && dow;
  return dom || dow;
}

Result<CronSchedule> ParseCron(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    size_t start = pos;
    while (pos < text.size() && !std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    if (pos > start) fields.push_back(text.substr(start, pos - start));
  }
  if (fields.size() != 5) {
    return Error(ErrorCode::kInvalid,
                 "expected 5 fields (minute hour day-of-month month day-of-week), got " +
                     std::to_string(fields.size()));
  }
  const std::array<CronFieldSpec, 5> specs = {{
      {"minute", 0, 59, {}},
      {"hour", 0, 23, {}},
      {"day-of-month", 1, 31, {}},
      {"month", 1, 12, kMonthNames},
      {"day-of-week", 0, 7, kDayNames},
  }};
  CronSchedule cron;
  cron.text = std::string(text);
  std::array<std::vector<bool>, 5> bits;
  for (size_t i = 0; i < 5; ++i) {
    if (auto problem = ParseCronField(fields[i], specs[i], &bits[i])) {
      return Error(ErrorCode::kInvalid, *problem);
    }
  }
  for (size_t v = 0; v < 60; ++v) cron.minutes[v] = bits[0][v];
  for (size_t v = 0; v < 24; ++v) cron.hours[v] = bits[1][v];
  for (size_t v = 1; v <= 31; ++v) cron.days_of_month[v] = bits[2][v];
  for (size_t v = 1; v <= 12; ++v) cron.months[v] = bits[3][v];
  for (size_t v = 0; v < 7; ++v) cron.days_of_week[v] = bits[4][v];
  if (bits[4][7]) cron.days_of_week[0] = true;  // 7 is Sunday too
  cron.day_of_month_star = fields[2].front() == '*';
  cron.day_of_week_star = fields[4].front() == '*';
  return cron;
}

Result<milliseconds> ParseDuration(std::string_view text) {
  auto fail = [&](const std::string& why) {
    return Error(ErrorCode::kInvalid, "invalid duration " + Quote(text) + ": " + why);
  };
  struct Unit {
    std::string_view suffix;
    int64_t ms;
  };
  constexpr std::array<Unit, 5> kUnits = {
      {{"d", kMsPerDay}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};
  if (text.empty()) return fail("empty (write a number and a unit, like 30s)");
  if (text.front() == '-') return fail("must not be negative");
  int64_t total = 0;
  size_t pos = 0;
  size_t previous_rank = kUnits.size();
  while (pos < text.size()) {
    size_t number_start = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
    if (pos == number_start) {
      return fail(pos == 0 ? "must start with a number, like 30s"
                           : "expected a number after " + Quote(text.substr(0, pos)));
    }
    std::string_view number = text.substr(number_start, pos - number_start);
    if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
      return fail("fractions are not supported (write 1h30m, not 1.5h)");
    }
    size_t unit_start = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
    std::string_view suffix = text.substr(unit_start, pos - unit_start);
    if (suffix.empty()) return fail("missing unit after " + Quote(number) + " (ms, s, m, h or d)");
    size_t rank = 0;
    while (rank < kUnits.size() && kUnits[rank].suffix != suffix) ++rank;
    if (rank == kUnits.size()) {
      return fail("unknown unit " + Quote(suffix) + " (use ms, s, m, h or d)");
    }
    if (previous_rank != kUnits.size() && rank <= previous_rank) {
      return fail("units must go from largest to smallest, each at most once (like 1h30m)");
    }
    previous_rank = rank;
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || value > kMaxDurationMs / kUnits[rank].ms) {
      return fail("longer than 3650d");
    }
    total += value * kUnits[rank].ms;
    if (total > kMaxDurationMs) return fail("longer than 3650d");
  }
  return milliseconds(total);
}

std::string FormatDuration(milliseconds duration) {
  int64_t ms = duration.count();
  if (ms == 0) return "0s";
  std::string out;
  uint64_t rest = static_cast<uint64_t>(ms);
  if (ms < 0) {
    out = "-";
    rest = 0 - rest;
  }
  constexpr std::array<std::pair<std::string_view, uint64_t>, 5> kUnits = {
      {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};
  for (const auto& [suffix, unit] : kUnits) {
    if (rest >= unit) {
      out += std::to_string(rest / unit);
      out += suffix;
      rest %= unit;
    }
  }
  return out;
}

Result<Pipelines> ParsePipelines(std::string_view yaml_text, std::string_view file_name) {
  Loader loader;
  loader.AddFile(std::string(file_name), yaml_text);
  return loader.Finish();
}

Result<Pipelines> LoadPipelines(const fs::path& path) {
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return Error(ErrorCode::kNotFound, path.string() + ": no such file or directory");
  }
  std::vector<fs::path> files;
  if (fs::is_directory(status)) {
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      std::string extension = it->path().extension().string();
      std::error_code file_ec;
      if (name.front() != '.' && (extension == ".yaml" || extension == ".yml") &&
          it->is_regular_file(file_ec)) {
        files.push_back(it->path());
      }
    }
    if (ec) return Error(ErrorCode::kIo, path.string() + ": cannot list: " + ec.message());
    if (files.empty()) {
      return Error(ErrorCode::kInvalid, path.string() + ": no *.yaml or *.yml files in it");
    }
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
      return a.filename().string() < b.filename().string();
    });
  } else {
    files.push_back(path);
  }
  Loader loader;
  for (const fs::path& file : files) {
    Result<std::string> text = ReadFile(file);
    if (!text.ok()) return text.error();
    loader.AddFile(file.string(), *text);
  }
  return loader.Finish();
}

}  // namespace shipd
