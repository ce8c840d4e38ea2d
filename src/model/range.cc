#include "shipd/model/range.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

namespace shipd {
namespace {

using ComparatorSet = Range::ComparatorSet;
using Op = Range::Op;

// Wraps text in double quotes for an error message, escaping quotes, backslashes and bytes that
// are not printable ASCII so that a hostile or binary input cannot garble logs.
std::string Quote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

Error Invalid(std::string message) { return Error(ErrorCode::kInvalid, std::move(message)); }

bool IsWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsWhitespace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && IsWhitespace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

std::vector<std::string_view> Split(std::string_view text, std::string_view sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + sep.size();
  }
}

bool IsWildcard(std::string_view component) {
  return component == "x" || component == "X" || component == "*";
}

// A version that may stop early or use wildcards: "1", "1.2", "1.x", "*", "1.2.3-rc.1".
struct Partial {
  int known = 0;  // how many leading components are numbers (0 to 3)
  uint64_t major = 0;
  uint64_t minor = 0;
  uint64_t patch = 0;
  Semver full;  // the version without build metadata; only meaningful when known == 3

  Semver Floor() const { return Semver(major, minor, patch); }
};

Result<uint64_t> ParseComponent(std::string_view component) {
  if (component.empty()) {
    return Invalid("empty component");
  }
  if (!std::all_of(component.begin(), component.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return Invalid(Quote(component) + " is not a number or wildcard");
  }
  if (component.size() > 1 && component[0] == '0') {
    return Invalid("numeric identifier " + Quote(component) + " has a leading zero");
  }
  uint64_t value = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (char c : component) {
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (kMax - digit) / 10) {
      return Invalid("numeric identifier " + Quote(component) + " does not fit in 64 bits");
    }
    value = value * 10 + digit;
  }
  return value;
}

// Errors carry only the reason about the version; the caller adds the range as context.
Result<Partial> ParsePartial(std::string_view text) {
  const auto invalid = [text](const std::string& reason) {
    return Invalid("invalid version " + Quote(text) + ": " + reason);
  };
  std::string_view body = text;
  if (!body.empty() && (body[0] == 'v' || body[0] == 'V')) {
    body.remove_prefix(1);
  }
  if (body.empty()) {
    return invalid("missing version number");
  }

  const size_t qualifier = body.find_first_of("-+");
  const std::vector<std::string_view> components = Split(body.substr(0, qualifier), ".");
  if (components.size() > 3) {
    return invalid("more than three components");
  }

  Partial partial;
  uint64_t* const fields[] = {&partial.major, &partial.minor, &partial.patch};
  bool after_wildcard = false;
  for (size_t i = 0; i < components.size(); ++i) {
    if (IsWildcard(components[i])) {
      after_wildcard = true;
      continue;
    }
    if (after_wildcard) {
      return invalid(Quote(components[i]) + " follows a wildcard");
    }
    auto number = ParseComponent(components[i]);
    if (!number.ok()) {
      return invalid(number.error().message());
    }
    *fields[i] = *number;
    partial.known = static_cast<int>(i) + 1;
  }

  if (qualifier == std::string_view::npos) {
    if (partial.known == 3) {
      partial.full = partial.Floor();
    }
    return partial;
  }
  if (partial.known < 3) {
    return invalid("prerelease or build metadata needs MAJOR.MINOR.PATCH");
  }
  // Semver::Parse validates the prerelease and build and quotes the text itself.
  auto validated = Semver::Parse(text);
  if (!validated.ok()) {
    return validated.error();
  }
  // Build metadata never affects matching; drop it so it does not show in Normalized().
  auto without_build = Semver::Parse(text.substr(0, text.find('+')));
  if (!without_build.ok()) {
    return without_build.error();
  }
  partial.full = std::move(without_build).value();
  return partial;
}

// The lowest release above every version that shares the first `prefix` components (1 to 3)
// with `p`, e.g. 1.3.0 for 1.2.x. Carries on overflow; nullopt when there is no such release.
std::optional<Semver> NextRelease(const Partial& p, int prefix) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (prefix >= 3 && p.patch < kMax) {
    return Semver(p.major, p.minor, p.patch + 1);
  }
  if (prefix >= 2 && p.minor < kMax) {
    return Semver(p.major, p.minor + 1, 0);
  }
  if (p.major < kMax) {
    return Semver(p.major + 1, 0, 0);
  }
  return std::nullopt;
}

// The version with prerelease "0", which sorts below every other prerelease of it.
Semver LowestPrerelease(const Semver& release) {
  auto version = Semver::Parse(release.ToString() + "-0");
  assert(version.ok());
  return std::move(version).value();
}

Range::Comparator MatchNothing() { return {Op::kLess, LowestPrerelease(Semver(0, 0, 0))}; }

bool IsMatchNothing(const Range::Comparator& c) {
  return c.op == Op::kLess && c.version == LowestPrerelease(Semver(0, 0, 0));
}

// Appends "<bound-0", which admits every release and prerelease below `bound` but no
// prerelease of it. Without a bound every version already qualifies.
void AppendBelow(const std::optional<Semver>& bound, ComparatorSet& set) {
  if (bound.has_value()) {
    set.push_back({Op::kLess, LowestPrerelease(*bound)});
  }
}

// The lower bound of a tilde, caret, hyphen or bare partial: its full version, or the
// partial with missing components set to zero.
Semver Lower(const Partial& p) { return p.known == 3 ? p.full : p.Floor(); }

// Operators written before a partial version; "~>" is treated as "~".
enum class Prefix { kNone, kEqual, kLess, kLessEqual, kGreater, kGreaterEqual, kTilde, kCaret };

// Longest match first, so "<=" wins over "<".
constexpr std::array<std::pair<std::string_view, Prefix>, 8> kPrefixes = {{
    {"<=", Prefix::kLessEqual},
    {">=", Prefix::kGreaterEqual},
    {"~>", Prefix::kTilde},
    {"<", Prefix::kLess},
    {">", Prefix::kGreater},
    {"=", Prefix::kEqual},
    {"~", Prefix::kTilde},
    {"^", Prefix::kCaret},
}};

// Desugars one "<op><partial>" into plain comparators, the way node-semver does.
void AppendSimple(Prefix prefix, const Partial& p, ComparatorSet& set) {
  if (p.known == 0) {
    // "*", "x", ">=*", "~*": everything; "<*", ">*": nothing.
    if (prefix == Prefix::kLess || prefix == Prefix::kGreater) {
      set.push_back(MatchNothing());
    }
    return;
  }
  const bool partial = p.known < 3;
  switch (prefix) {
    case Prefix::kNone:
    case Prefix::kEqual:
      if (!partial) {
        set.push_back({Op::kEqual, p.full});
        return;
      }
      set.push_back({Op::kGreaterEqual, p.Floor()});
      AppendBelow(NextRelease(p, p.known), set);
      return;
    case Prefix::kGreater:
      if (!partial) {
        set.push_back({Op::kGreater, p.full});
      } else if (auto next = NextRelease(p, p.known)) {
        set.push_back({Op::kGreaterEqual, *next});  // ">1.2" is ">=1.3.0"
      } else {
        set.push_back(MatchNothing());
      }
      return;
    case Prefix::kGreaterEqual:
      set.push_back({Op::kGreaterEqual, partial ? p.Floor() : p.full});
      return;
    case Prefix::kLess:
      if (partial) {
        set.push_back({Op::kLess, LowestPrerelease(p.Floor())});  // "<1.2" is "<1.2.0-0"
      } else {
        set.push_back({Op::kLess, p.full});
      }
      return;
    case Prefix::kLessEqual:
      if (partial) {
        AppendBelow(NextRelease(p, p.known), set);  // "<=1.2" is "<1.3.0-0"
      } else {
        set.push_back({Op::kLessEqual, p.full});
      }
      return;
    case Prefix::kTilde:
      // Patch-level changes if a minor version is given, minor-level changes if not.
      set.push_back({Op::kGreaterEqual, Lower(p)});
      AppendBelow(NextRelease(p, std::min(p.known, 2)), set);
      return;
    case Prefix::kCaret: {
      // Changes that keep the left-most non-zero component; for "^0.0" and "^0.x" the
      // components given are the ones kept.
      int keep = 1;
      if (p.major == 0 && p.known >= 2) {
        keep = (p.known == 3 && p.minor == 0) ? 3 : 2;
      }
      set.push_back({Op::kGreaterEqual, Lower(p)});
      AppendBelow(NextRelease(p, keep), set);
      return;
    }
  }
}

// "A - B": from A (missing components zero) through every version that B covers.
void AppendHyphen(const Partial& from, const Partial& to, ComparatorSet& set) {
  if (from.known > 0) {
    set.push_back({Op::kGreaterEqual, Lower(from)});
  }
  if (to.known == 3) {
    set.push_back({Op::kLessEqual, to.full});
  } else if (to.known > 0) {
    AppendBelow(NextRelease(to, to.known), set);
  }
}

// Drops ">=0.0.0" (it admits every release), collapses a set that cannot match to the single
// "<0.0.0-0" and removes duplicate comparators, like node-semver.
void Simplify(ComparatorSet& set) {
  if (std::any_of(set.begin(), set.end(), IsMatchNothing)) {
    set = {MatchNothing()};
    return;
  }
  ComparatorSet kept;
  for (const Range::Comparator& c : set) {
    if (c.op == Op::kGreaterEqual && c.version == Semver(0, 0, 0)) {
      continue;
    }
    const bool duplicate = std::any_of(kept.begin(), kept.end(), [&c](const Range::Comparator& k) {
      return k.op == c.op && k.version == c.version;
    });
    if (!duplicate) {
      kept.push_back(c);
    }
  }
  set = std::move(kept);
}

struct Token {
  Prefix prefix = Prefix::kNone;
  std::string_view op;  // the operator as written, for messages
  std::string_view version;
};

Result<std::vector<Token>> Tokenize(std::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  const auto skip_whitespace = [&] {
    while (i < text.size() && IsWhitespace(text[i])) {
      ++i;
    }
  };
  while (true) {
    skip_whitespace();
    if (i == text.size()) {
      return tokens;
    }
    Token token;
    for (const auto& [spelling, prefix] : kPrefixes) {
      if (text.substr(i, spelling.size()) == spelling) {
        token.prefix = prefix;
        token.op = spelling;
        i += spelling.size();
        skip_whitespace();
        break;
      }
    }
    const size_t start = i;
    while (i < text.size() && !IsWhitespace(text[i])) {
      ++i;
    }
    token.version = text.substr(start, i - start);
    if (token.prefix != Prefix::kNone) {
      if (token.version.empty()) {
        return Invalid("operator " + Quote(token.op) + " without a version");
      }
      if (token.version.find_first_of("<>=~^") == 0) {
        return Invalid("unexpected " + Quote(token.version) + " after operator " + Quote(token.op));
      }
    }
    tokens.push_back(token);
  }
}

bool IsHyphen(const Token& token) { return token.prefix == Prefix::kNone && token.version == "-"; }

// A hyphen range side may be written "=1.2.3" but takes no other operator.
bool IsHyphenSide(const Token& token) {
  return token.prefix == Prefix::kNone || token.prefix == Prefix::kEqual;
}

// One AND-set: comparators separated by whitespace, or a single hyphen range.
Result<ComparatorSet> ParseSet(std::string_view text) {
  auto tokens = Tokenize(text);
  if (!tokens.ok()) {
    return tokens.error();
  }
  ComparatorSet set;

  const auto hyphen = std::find_if(tokens->begin(), tokens->end(), IsHyphen);
  if (hyphen != tokens->end()) {
    if (tokens->size() != 3 || hyphen != tokens->begin() + 1 || !IsHyphenSide((*tokens)[0]) ||
        !IsHyphenSide((*tokens)[2])) {
      return Invalid("a hyphen range takes exactly one version on each side of \" - \"");
    }
    auto from = ParsePartial((*tokens)[0].version);
    if (!from.ok()) {
      return from.error();
    }
    auto to = ParsePartial((*tokens)[2].version);
    if (!to.ok()) {
      return to.error();
    }
    AppendHyphen(*from, *to, set);
  } else {
    for (const Token& token : *tokens) {
      if (token.prefix == Prefix::kNone && token.version.size() > 1 && token.version[0] == '-') {
        return Invalid(Quote(token.version) +
                       " is not a version; a hyphen range needs spaces around \"-\"");
      }
      auto partial = ParsePartial(token.version);
      if (!partial.ok()) {
        return partial.error();
      }
      AppendSimple(token.prefix, *partial, set);
    }
  }
  Simplify(set);
  return set;
}

Result<std::vector<ComparatorSet>> ParseSets(std::string_view text) {
  const std::vector<std::string_view> alternatives = Split(text, "||");
  if (alternatives.size() == 1 && Trim(text).empty()) {
    return std::vector<ComparatorSet>{{}};
  }
  std::vector<ComparatorSet> sets;
  for (size_t i = 0; i < alternatives.size(); ++i) {
    // node-semver reads an empty alternative as "*", which would silently widen "^2.1 ||"
    // to everything; a typo like that is rejected instead.
    if (Trim(alternatives[i]).empty()) {
      return Invalid(i == 0 ? "\"||\" without a range before it"
                            : "\"||\" without a range after it");
    }
    auto set = ParseSet(alternatives[i]);
    if (!set.ok()) {
      return set.error();
    }
    sets.push_back(std::move(set).value());
  }
  // A set that cannot match adds nothing to an OR; keep one only if all are like that.
  const auto is_nothing = [](const ComparatorSet& s) {
    return s.size() == 1 && IsMatchNothing(s[0]);
  };
  if (!std::all_of(sets.begin(), sets.end(), is_nothing)) {
    std::erase_if(sets, is_nothing);
  } else {
    sets.resize(1);
  }
  return sets;
}

bool Matches(const Range::Comparator& c, const Semver& version) {
  const std::weak_ordering order = version <=> c.version;
  switch (c.op) {
    case Op::kLess:
      return std::is_lt(order);
    case Op::kLessEqual:
      return std::is_lteq(order);
    case Op::kGreater:
      return std::is_gt(order);
    case Op::kGreaterEqual:
      return std::is_gteq(order);
    case Op::kEqual:
      return std::is_eq(order);
  }
  return false;
}

bool SetMatches(const ComparatorSet& set, const Semver& version) {
  for (const Range::Comparator& c : set) {
    if (!Matches(c, version)) {
      return false;
    }
  }
  if (!version.is_prerelease()) {
    return true;
  }
  // A prerelease only matches when the set opts in to prereleases of that exact release.
  return std::any_of(set.begin(), set.end(), [&version](const Range::Comparator& c) {
    return c.version.is_prerelease() && c.version.major() == version.major() &&
           c.version.minor() == version.minor() && c.version.patch() == version.patch();
  });
}

std::string_view OpText(Op op) {
  switch (op) {
    case Op::kLess:
      return "<";
    case Op::kLessEqual:
      return "<=";
    case Op::kGreater:
      return ">";
    case Op::kGreaterEqual:
      return ">=";
    case Op::kEqual:
      return "";
  }
  return "";
}

}  // namespace

const std::shared_ptr<const Range::Data>& Range::Empty() {
  static const std::shared_ptr<const Data> kEmpty = std::make_shared<const Data>();
  return kEmpty;
}

Result<Range> Range::Parse(std::string_view text) {
  auto data = std::make_shared<Data>();
  data->text = std::string(Trim(text));
  auto sets = ParseSets(data->text);
  if (!sets.ok()) {
    return sets.error().WithContext("invalid range " + Quote(data->text));
  }
  data->sets = std::move(sets).value();
  Range range;
  range.data_ = std::move(data);
  return range;
}

bool Range::Satisfies(const Semver& version) const {
  const auto& sets = data_->sets;
  return std::any_of(sets.begin(), sets.end(),
                     [&version](const ComparatorSet& set) { return SetMatches(set, version); });
}

std::string Range::Normalized() const {
  // A default-constructed Range has no sets and matches nothing.
  const auto& sets = data_->sets;
  if (sets.empty()) {
    return "<0.0.0-0";
  }
  std::string out;
  for (size_t i = 0; i < sets.size(); ++i) {
    if (i > 0) {
      out += " || ";
    }
    if (sets[i].empty()) {
      out += '*';
    }
    for (size_t j = 0; j < sets[i].size(); ++j) {
      if (j > 0) {
        out += ' ';
      }
      out += OpText(sets[i][j].op);
      out += sets[i][j].version.ToString();
    }
  }
  return out;
}

}  // namespace shipd
