#include "shipd/model/range.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>

#include "shipd/model/semver.h"

namespace shipd {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Parses text that the test knows is valid.
Range R(std::string_view text) {
  auto range = Range::Parse(text);
  EXPECT_TRUE(range.ok()) << text << ": " << range.error().message();
  return range.ok() ? *range : Range();
}

Semver V(std::string_view text) {
  auto version = Semver::Parse(text);
  EXPECT_TRUE(version.ok()) << text << ": " << version.error().message();
  return version.ok() ? *version : Semver();
}

struct NormalizeCase {
  std::string_view text;
  std::string_view normalized;
};

void PrintTo(const NormalizeCase& c, std::ostream* os) { *os << '"' << c.text << '"'; }

constexpr NormalizeCase kNormalizeCases[] = {
    // Plain comparators; "=" and a bare version are the same and print bare.
    {"1.2.3", "1.2.3"},
    {"=1.2.3", "1.2.3"},
    {"v1.2.3", "1.2.3"},
    {"V1.2.3", "1.2.3"},
    {"=v1.2.3", "1.2.3"},
    {">1.2.3", ">1.2.3"},
    {">=1.2.3", ">=1.2.3"},
    {"<1.2.3", "<1.2.3"},
    {"<=1.2.3", "<=1.2.3"},
    {"1.2.3-beta.2", "1.2.3-beta.2"},
    {">=1.2.3-rc.1", ">=1.2.3-rc.1"},
    {"<2.0.0-0", "<2.0.0-0"},
    // Whitespace between operator and version, and around the range, is allowed.
    {">= 1.2.3", ">=1.2.3"},
    {"<  1.2.3", "<1.2.3"},
    {">=\t1.2.3", ">=1.2.3"},
    {"> v1.2.3", ">1.2.3"},
    {"= 1.2.3", "1.2.3"},
    {"  >=1.4.0   <3.0.0 \n", ">=1.4.0 <3.0.0"},
    // Build metadata never matters, so it is dropped.
    {"1.2.3+build.5", "1.2.3"},
    {">=1.2.3-rc.1+build", ">=1.2.3-rc.1"},
    // AND sets keep their comparators in order, minus exact duplicates.
    {">=1.4.0 <3.0.0", ">=1.4.0 <3.0.0"},
    {">= 1.4.0 < 3.0.0", ">=1.4.0 <3.0.0"},
    {">1.2.3 <=1.2.3", ">1.2.3 <=1.2.3"},
    {"1.2.3 1.2.3", "1.2.3"},
    {">=1.0.0 >=1.0.0 <2", ">=1.0.0 <2.0.0-0"},
    {"^1.2 >=1.5.0", ">=1.2.0 <2.0.0-0 >=1.5.0"},
    // OR sets.
    {"1.x || >=2.5.0", ">=1.0.0 <2.0.0-0 || >=2.5.0"},
    {"1.2.3||2.3.4", "1.2.3 || 2.3.4"},
    {"  1.2.3 ||   2.3.4  ", "1.2.3 || 2.3.4"},
    {">=1.0.0 <1.5.0 || >=2.0.0 <2.5.0 || 3.x",
     ">=1.0.0 <1.5.0 || >=2.0.0 <2.5.0 || >=3.0.0 <4.0.0-0"},
    {"1.x || *", ">=1.0.0 <2.0.0-0 || *"},
    {"<0 || 1.2.3", "1.2.3"},
    {">* || <*", "<0.0.0-0"},
    // Match-all spellings.
    {"", "*"},
    {"   ", "*"},
    {"*", "*"},
    {"x", "*"},
    {"X", "*"},
    {"v*", "*"},
    {"x.x.x", "*"},
    {"*.*", "*"},
    {"X.x.*", "*"},
    {"=*", "*"},
    {">=*", "*"},
    {"<=*", "*"},
    {"~*", "*"},
    {"^*", "*"},
    {">=0", "*"},
    {">=0.0.0", "*"},
    // Partial versions cover everything they leave open.
    {"1", ">=1.0.0 <2.0.0-0"},
    {"1.x", ">=1.0.0 <2.0.0-0"},
    {"1.X", ">=1.0.0 <2.0.0-0"},
    {"1.*.*", ">=1.0.0 <2.0.0-0"},
    {"v1", ">=1.0.0 <2.0.0-0"},
    {"1.2", ">=1.2.0 <1.3.0-0"},
    {"1.2.x", ">=1.2.0 <1.3.0-0"},
    {"=1.2", ">=1.2.0 <1.3.0-0"},
    {"0", "<1.0.0-0"},
    {"0.0", "<0.1.0-0"},
    {"0.0.x", "<0.1.0-0"},
    // Operators on partial versions.
    {">1", ">=2.0.0"},
    {">1.x", ">=2.0.0"},
    {">1.2", ">=1.3.0"},
    {">=1", ">=1.0.0"},
    {">=1.2", ">=1.2.0"},
    {">=1.2.x", ">=1.2.0"},
    {"<1", "<1.0.0-0"},
    {"<1.2", "<1.2.0-0"},
    {"<1.2.x", "<1.2.0-0"},
    {"<=1", "<2.0.0-0"},
    {"<=1.2", "<1.3.0-0"},
    {"<=1.2.x", "<1.3.0-0"},
    {"<0", "<0.0.0-0"},
    {"<*", "<0.0.0-0"},
    {">*", "<0.0.0-0"},
    {">=1.2.3 <*", "<0.0.0-0"},
    {">=0.0.0 <2", "<2.0.0-0"},
    {">=0.0.0-0", ">=0.0.0-0"},
    // Tilde: patch-level changes when a minor is given, minor-level changes when not.
    {"~1.2.3", ">=1.2.3 <1.3.0-0"},
    {"~1.2", ">=1.2.0 <1.3.0-0"},
    {"~1.2.x", ">=1.2.0 <1.3.0-0"},
    {"~1", ">=1.0.0 <2.0.0-0"},
    {"~1.x", ">=1.0.0 <2.0.0-0"},
    {"~0.2", ">=0.2.0 <0.3.0-0"},
    {"~0.2.3", ">=0.2.3 <0.3.0-0"},
    {"~0.0.1", ">=0.0.1 <0.1.0-0"},
    {"~0", "<1.0.0-0"},
    {"~1.2.3-beta.2", ">=1.2.3-beta.2 <1.3.0-0"},
    {"~>1.2", ">=1.2.0 <1.3.0-0"},
    {"~> 1.2.3", ">=1.2.3 <1.3.0-0"},
    {"~ 1.2", ">=1.2.0 <1.3.0-0"},
    {"~v1.2.3", ">=1.2.3 <1.3.0-0"},
    // Caret: changes that keep the left-most non-zero component.
    {"^2.1", ">=2.1.0 <3.0.0-0"},
    {"^1.2.3", ">=1.2.3 <2.0.0-0"},
    {"^1.2.x", ">=1.2.0 <2.0.0-0"},
    {"^1", ">=1.0.0 <2.0.0-0"},
    {"^1.x", ">=1.0.0 <2.0.0-0"},
    {"^0.2.3", ">=0.2.3 <0.3.0-0"},
    {"^0.2", ">=0.2.0 <0.3.0-0"},
    {"^0.2.x", ">=0.2.0 <0.3.0-0"},
    {"^0.0.3", ">=0.0.3 <0.0.4-0"},
    {"^0.0.0", "<0.0.1-0"},
    {"^0.0", "<0.1.0-0"},
    {"^0.0.x", "<0.1.0-0"},
    {"^0.x", "<1.0.0-0"},
    {"^0", "<1.0.0-0"},
    {"^1.2.3-beta.2", ">=1.2.3-beta.2 <2.0.0-0"},
    {"^0.1.2-rc.1", ">=0.1.2-rc.1 <0.2.0-0"},
    {"^0.0.3-beta", ">=0.0.3-beta <0.0.4-0"},
    {"^ 1.2", ">=1.2.0 <2.0.0-0"},
    {"^v1.2.3", ">=1.2.3 <2.0.0-0"},
    // Hyphen ranges: a partial upper bound covers everything it leaves open.
    {"1.2.3 - 2.3.4", ">=1.2.3 <=2.3.4"},
    {"1.2 - 2.3.4", ">=1.2.0 <=2.3.4"},
    {"1.2.3 - 2.3", ">=1.2.3 <2.4.0-0"},
    {"1.2 - 2.3", ">=1.2.0 <2.4.0-0"},
    {"1 - 2", ">=1.0.0 <3.0.0-0"},
    {"1.x - 2.x", ">=1.0.0 <3.0.0-0"},
    {"1.2.3 - *", ">=1.2.3"},
    {"* - 2", "<3.0.0-0"},
    {"* - *", "*"},
    {"0.0.0 - 1", "<2.0.0-0"},
    {"1.2.3-alpha - 2.0.0-rc.1", ">=1.2.3-alpha <=2.0.0-rc.1"},
    {"v1.2.3 - v2.3.4", ">=1.2.3 <=2.3.4"},
    {"=1.2.3 - =2.3.4", ">=1.2.3 <=2.3.4"},
    {"1.2.3\t-\t2.3.4", ">=1.2.3 <=2.3.4"},
    {"1.2.3 - 2.3.4 || 3.x", ">=1.2.3 <=2.3.4 || >=3.0.0 <4.0.0-0"},
    // An upper bound past the largest number carries into the next component or vanishes.
    {"^18446744073709551615.1.2", ">=18446744073709551615.1.2"},
    {"18446744073709551615.x", ">=18446744073709551615.0.0"},
    {"~1.18446744073709551615", ">=1.18446744073709551615.0 <2.0.0-0"},
    {"^0.0.18446744073709551615", ">=0.0.18446744073709551615 <0.1.0-0"},
    {"<=18446744073709551615", "*"},
    {">18446744073709551615", "<0.0.0-0"},
    {">18446744073709551615.3", ">=18446744073709551615.4.0"},
    {">18446744073709551615.18446744073709551615", "<0.0.0-0"},
};

class RangeNormalizeTest : public ::testing::TestWithParam<NormalizeCase> {};

TEST_P(RangeNormalizeTest, DesugarsToComparatorSets) {
  const NormalizeCase& c = GetParam();
  auto range = Range::Parse(c.text);
  ASSERT_TRUE(range.ok()) << range.error().message();
  EXPECT_EQ(range->Normalized(), c.normalized);
}

TEST_P(RangeNormalizeTest, NormalizedFormParsesToItself) {
  const Range range = R(GetParam().text);
  auto again = Range::Parse(range.Normalized());
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->Normalized(), range.Normalized());
}

INSTANTIATE_TEST_SUITE_P(Table, RangeNormalizeTest, ::testing::ValuesIn(kNormalizeCases));

struct SatisfiesCase {
  std::string_view range;
  std::string_view version;
  bool expected;
};

void PrintTo(const SatisfiesCase& c, std::ostream* os) {
  *os << '"' << c.version << "\" in \"" << c.range << '"';
}

constexpr SatisfiesCase kSatisfiesCases[] = {
    // Exact versions.
    {"1.2.3", "1.2.3", true},
    {"1.2.3", "1.2.4", false},
    {"1.2.3", "1.2.2", false},
    {"=1.2.3", "v1.2.3", true},
    {"1.2.3-rc.1", "1.2.3-rc.1", true},
    {"1.2.3-rc.1", "1.2.3", false},
    {"1.2.3", "1.2.3-rc.1", false},
    // Comparators.
    {">1.2.3", "1.2.4", true},
    {">1.2.3", "1.2.3", false},
    {">=1.2.3", "1.2.3", true},
    {">=1.2.3", "1.2.2", false},
    {"<1.2.3", "1.2.2", true},
    {"<1.2.3", "1.2.3", false},
    {"<=1.2.3", "1.2.3", true},
    {"<=1.2.3", "1.2.4", false},
    {">=1.9.0", "1.10.0", true},
    {"<1.10.0", "1.9.0", true},
    {">=1.4.0 <3.0.0", "1.4.0", true},
    {">=1.4.0 <3.0.0", "2.99.99", true},
    {">=1.4.0 <3.0.0", "3.0.0", false},
    {">=1.4.0 <3.0.0", "1.3.9", false},
    {">= 1.4.0 < 3.0.0", "2.0.0", true},
    {">1.2.3 <=1.2.3", "1.2.3", false},
    {">=1.2.3 <1.2.3", "1.2.3", false},
    // Wildcards and partial versions.
    {"*", "0.0.0", true},
    {"*", "18446744073709551615.0.0", true},
    {"", "1.2.3", true},
    {"x", "2.0.0", true},
    {"1", "1.0.0", true},
    {"1", "1.99.99", true},
    {"1", "2.0.0", false},
    {"1", "0.9.9", false},
    {"1.x", "1.5.0", true},
    {"1.2", "1.2.0", true},
    {"1.2", "1.2.99", true},
    {"1.2", "1.3.0", false},
    {"1.2", "1.1.9", false},
    {"1.2.x", "1.2.7", true},
    {"0.0", "0.0.5", true},
    {"0.0", "0.1.0", false},
    {">1", "1.99.0", false},
    {">1", "2.0.0", true},
    {">1.2", "1.2.9", false},
    {">1.2", "1.3.0", true},
    {">=1.2", "1.2.0", true},
    {">=1.2", "1.1.99", false},
    {"<1.2", "1.1.9", true},
    {"<1.2", "1.2.0", false},
    {"<=1.2", "1.2.99", true},
    {"<=1.2", "1.3.0", false},
    {"<=1", "1.99.99", true},
    {"<=1", "2.0.0", false},
    {">*", "0.0.0", false},
    {"<*", "1.0.0", false},
    {"<0", "0.0.0", false},
    // Tilde.
    {"~1.2.3", "1.2.3", true},
    {"~1.2.3", "1.2.99", true},
    {"~1.2.3", "1.3.0", false},
    {"~1.2.3", "1.2.2", false},
    {"~1.2", "1.2.0", true},
    {"~1.2", "1.3.0", false},
    {"~1", "1.9.0", true},
    {"~1", "2.0.0", false},
    {"~0.2", "0.2.9", true},
    {"~0.2", "0.3.0", false},
    {"~0", "0.9.9", true},
    {"~0", "1.0.0", false},
    {"~>1.2.3", "1.2.5", true},
    {"~ 1.2.3", "1.3.0", false},
    // Caret, including the 0.x rules.
    {"^2.1", "2.1.0", true},
    {"^2.1", "2.9.9", true},
    {"^2.1", "3.0.0", false},
    {"^2.1", "2.0.9", false},
    {"^1.2.3", "1.2.3", true},
    {"^1.2.3", "1.9.0", true},
    {"^1.2.3", "2.0.0", false},
    {"^1.2.3", "1.2.2", false},
    {"^0.2.3", "0.2.3", true},
    {"^0.2.3", "0.2.9", true},
    {"^0.2.3", "0.3.0", false},
    {"^0.2.3", "0.2.2", false},
    {"^0.0.3", "0.0.3", true},
    {"^0.0.3", "0.0.4", false},
    {"^0.0.3", "0.0.2", false},
    {"^0.0", "0.0.9", true},
    {"^0.0", "0.1.0", false},
    {"^0.x", "0.99.0", true},
    {"^0.x", "1.0.0", false},
    {"^1.x", "1.99.0", true},
    {"^1.x", "2.0.0", false},
    {"^1.x", "0.9.0", false},
    {"^0", "0.5.0", true},
    {"^0.0.0", "0.0.0", true},
    {"^0.0.0", "0.0.1", false},
    // Hyphen ranges.
    {"1.2.3 - 2.3.4", "1.2.3", true},
    {"1.2.3 - 2.3.4", "2.3.4", true},
    {"1.2.3 - 2.3.4", "2.3.5", false},
    {"1.2.3 - 2.3.4", "1.2.2", false},
    {"1.2 - 2.3", "1.2.0", true},
    {"1.2 - 2.3", "2.3.99", true},
    {"1.2 - 2.3", "2.4.0", false},
    {"1.2 - 2.3", "1.1.9", false},
    {"1 - 2", "2.9.9", true},
    {"1 - 2", "3.0.0", false},
    {"1.2.3 - *", "99.0.0", true},
    {"* - 2", "0.0.1", true},
    // OR sets.
    {"1.x || >=2.5.0", "1.0.0", true},
    {"1.x || >=2.5.0", "2.4.0", false},
    {"1.x || >=2.5.0", "2.5.0", true},
    {"1.x || >=2.5.0", "9.0.0", true},
    {"^1.2 || ^3", "2.0.0", false},
    {"^1.2 || ^3", "3.1.0", true},
    {"<1 || >=2", "1.5.0", false},
    {"<1 || >=2", "0.5.0", true},
    {"<1 || >=2", "2.0.0", true},
    // A prerelease matches only when its AND-set names a prerelease of the same M.m.p.
    {"*", "1.2.3-alpha", false},
    {"", "1.0.0-0", false},
    {">=1.0.0", "2.0.0-rc.1", false},
    {"^1.2.3", "1.5.0-beta", false},
    {"^1.2.3", "2.0.0-0", false},
    {"<2.0.0", "2.0.0-rc.1", false},
    {">=1.2.3-alpha", "1.2.3-alpha", true},
    {">=1.2.3-alpha", "1.2.3-beta", true},
    {">=1.2.3-beta", "1.2.3-alpha", false},
    {">=1.2.3-alpha", "1.2.4-alpha", false},
    {">=1.2.3-alpha", "1.2.3", true},
    {">=1.2.3-alpha", "3.0.0", true},
    {">1.2.3-alpha.1", "1.2.3-alpha.2", true},
    {">1.2.3-alpha.1", "1.2.3-alpha.1", false},
    {">1.2.3-alpha.1", "1.2.3-alpha.1.0", true},
    {"^1.2.3-beta.2", "1.2.3-beta.4", true},
    {"^1.2.3-beta.2", "1.2.3-beta.1", false},
    {"^1.2.3-beta.2", "1.2.4-beta.4", false},
    {"^1.2.3-beta.2", "1.2.3", true},
    {"^1.2.3-beta.2", "1.9.0", true},
    {"~1.2.3-beta.2", "1.2.3-rc.1", true},
    {"~1.2.3-beta.2", "1.2.4-rc.1", false},
    {"1.2.3-alpha - 2.0.0-rc.1", "2.0.0-rc.1", true},
    {"1.2.3-alpha - 2.0.0-rc.1", "2.0.0-beta", true},
    {"1.2.3-alpha - 2.0.0-rc.1", "2.0.0-rc.2", false},
    {"1.2.3-alpha - 2.0.0-rc.1", "1.5.0-rc.1", false},
    {"1.2.3-alpha - 2.0.0-rc.1", "1.2.3-alpha.7", true},
    {">=1.2.3-rc.1 <1.2.4", "1.2.3-rc.2", true},
    {"<=2.0.0-rc.1", "2.0.0-beta", true},
    {"<=2.0.0-rc.1", "1.9.9-beta", false},
    {"1.2.3-rc.1 || 1.2.3-rc.2", "1.2.3-rc.2", true},
    {"^1.0.0 || >=2.0.0-beta <2.0.0", "2.0.0-rc.1", true},
    {"^1.0.0 || 2.0.0-beta", "2.0.0-rc.1", false},
    {"1.2.3-beta || *", "1.2.3-beta", true},
    {">=0.0.0-0", "0.0.0-alpha", true},
    // The "-0" of a desugared upper bound never opens prereleases.
    {"<2.0.0-0", "1.9.9-rc.1", false},
    {"<2.0.0-0", "2.0.0-0", false},
    {"^1.2", "2.0.0-0", false},
    {"1.2 - 2.3", "2.4.0-0", false},
    // Build metadata never affects matching.
    {"1.2.3", "1.2.3+build.5", true},
    {"1.2.3+build", "1.2.3", true},
    {"1.2.3+a", "1.2.3+b", true},
    {"<=1.2.3", "1.2.3+zzz", true},
    {">1.2.3", "1.2.3+zzz", false},
    {"1.2.3-rc.1", "1.2.3-rc.1+b", true},
    // Bounds near the largest number.
    {"^18446744073709551615.1.2", "18446744073709551615.18446744073709551615.18446744073709551615",
     true},
    {"^18446744073709551615.1.2", "18446744073709551615.1.1", false},
    {">18446744073709551615", "18446744073709551615.18446744073709551615.0", false},
    {"<=18446744073709551615", "18446744073709551615.5.0", true},
    {"~1.18446744073709551615", "1.18446744073709551615.7", true},
    {"~1.18446744073709551615", "2.0.0", false},
};

class RangeSatisfiesTest : public ::testing::TestWithParam<SatisfiesCase> {};

TEST_P(RangeSatisfiesTest, MatchesLikeNodeSemver) {
  const SatisfiesCase& c = GetParam();
  const Range range = R(c.range);
  EXPECT_EQ(range.Satisfies(V(c.version)), c.expected) << "normalized: " << range.Normalized();
}

INSTANTIATE_TEST_SUITE_P(Table, RangeSatisfiesTest, ::testing::ValuesIn(kSatisfiesCases));

struct InvalidCase {
  std::string_view text;
  std::string_view quoted;  // how the message quotes the (trimmed) input
  std::string_view reason;  // a fragment of the message that names the problem
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.quoted; }

constexpr InvalidCase kInvalidCases[] = {
    // An operator needs a version.
    {">=1.2.3 <", R"(">=1.2.3 <")", R"(operator "<" without a version)"},
    {"<", R"("<")", R"(operator "<" without a version)"},
    {">=", R"(">=")", R"(operator ">=" without a version)"},
    {"=", R"("=")", R"(operator "=" without a version)"},
    {"~", R"("~")", R"(operator "~" without a version)"},
    {"~>", R"("~>")", R"(operator "~>" without a version)"},
    {"^", R"("^")", R"(operator "^" without a version)"},
    {"1.2.3 <=  ", R"("1.2.3 <=")", R"(operator "<=" without a version)"},
    {">=1.2.3 < || 2", R"(">=1.2.3 < || 2")", R"(operator "<" without a version)"},
    {">=<1.2.3", R"(">=<1.2.3")", R"(unexpected "<1.2.3" after operator ">=")"},
    {"> >1.2.3", R"("> >1.2.3")", R"(unexpected ">1.2.3" after operator ">")"},
    {"^~1.2", R"("^~1.2")", R"(unexpected "~1.2" after operator "^")"},
    // Numbers.
    {"1.02.3", R"("1.02.3")",
     R"(invalid version "1.02.3": numeric identifier "02" has a leading zero)"},
    {"^1.02", R"("^1.02")",
     R"(invalid version "1.02": numeric identifier "02" has a leading zero)"},
    {">=01", R"(">=01")", R"(invalid version "01": numeric identifier "01" has a leading zero)"},
    {"~1.2.03", R"("~1.2.03")", R"(numeric identifier "03" has a leading zero)"},
    {"99999999999999999999", R"("99999999999999999999")",
     R"(numeric identifier "99999999999999999999" does not fit in 64 bits)"},
    {"^1.2.18446744073709551616", R"("^1.2.18446744073709551616")",
     R"("18446744073709551616" does not fit in 64 bits)"},
    {"abc", R"("abc")", R"(invalid version "abc": "abc" is not a number or wildcard)"},
    {"latest", R"("latest")", R"("latest" is not a number or wildcard)"},
    {"1.2.3a", R"("1.2.3a")", R"("3a" is not a number or wildcard)"},
    {"1.2.3>=2", R"("1.2.3>=2")", R"("3>=2" is not a number or wildcard)"},
    {"1 | 2", R"("1 | 2")", R"(invalid version "|": "|" is not a number or wildcard)"},
    {"vv1.2.3", R"("vv1.2.3")", R"("v1" is not a number or wildcard)"},
    {"v", R"("v")", R"(invalid version "v": missing version number)"},
    {">=v", R"(">=v")", R"(invalid version "v": missing version number)"},
    // Shape of a partial version.
    {"1.2.3.4", R"("1.2.3.4")", R"(invalid version "1.2.3.4": more than three components)"},
    {"1..2", R"("1..2")", R"(invalid version "1..2": empty component)"},
    {"1.", R"("1.")", R"(invalid version "1.": empty component)"},
    {".1", R"(".1")", R"(invalid version ".1": empty component)"},
    {"1.x.3", R"("1.x.3")", R"(invalid version "1.x.3": "3" follows a wildcard)"},
    {"*.2", R"("*.2")", R"("2" follows a wildcard)"},
    {"1.2.x-beta", R"("1.2.x-beta")",
     R"(invalid version "1.2.x-beta": prerelease or build metadata needs MAJOR.MINOR.PATCH)"},
    {"1.2-beta", R"("1.2-beta")", "prerelease or build metadata needs MAJOR.MINOR.PATCH"},
    {"^1+build", R"("^1+build")", "prerelease or build metadata needs MAJOR.MINOR.PATCH"},
    // Prerelease and build identifiers.
    {"1.2.3-01", R"("1.2.3-01")",
     R"(invalid version "1.2.3-01": numeric identifier "01" has a leading zero)"},
    {">=1.2.3-beta_1", R"(">=1.2.3-beta_1")",
     R"(invalid version "1.2.3-beta_1": prerelease identifier "beta_1" contains "_")"},
    {"1.2.3-", R"("1.2.3-")", R"(invalid version "1.2.3-": empty prerelease identifier)"},
    {"~1.2.3+", R"("~1.2.3+")", R"(invalid version "1.2.3+": empty build identifier)"},
    // OR lists.
    {"1.2.3 ||", R"("1.2.3 ||")", R"("||" without a range after it)"},
    {"1 || || 2", R"("1 || || 2")", R"("||" without a range after it)"},
    {"|| 1.2.3", R"("|| 1.2.3")", R"("||" without a range before it)"},
    {"||", R"("||")", R"("||" without a range before it)"},
    {"1 ||| 2", R"("1 ||| 2")", R"("|" is not a number or wildcard)"},
    // Hyphen ranges.
    {"1.2.3 - ", R"("1.2.3 -")", "a hyphen range takes exactly one version on each side"},
    {"- 1.2.3", R"("- 1.2.3")", "a hyphen range takes exactly one version on each side"},
    {"1 - 2 - 3", R"("1 - 2 - 3")", "a hyphen range takes exactly one version on each side"},
    {">=1 - 2", R"(">=1 - 2")", "a hyphen range takes exactly one version on each side"},
    {"1 - ^2", R"("1 - ^2")", "a hyphen range takes exactly one version on each side"},
    {"1.2.3 - 2.0.0 >=1.5", R"("1.2.3 - 2.0.0 >=1.5")",
     "a hyphen range takes exactly one version on each side"},
    {"1.2.3 -2.0.0", R"("1.2.3 -2.0.0")",
     R"("-2.0.0" is not a version; a hyphen range needs spaces around "-")"},
    {"1.x - 2.02", R"("1.x - 2.02")", R"(numeric identifier "02" has a leading zero)"},
    // Unprintable input is escaped in the message.
    {"1.2.3\x01", R"("1.2.3\x01")", R"("3\x01" is not a number or wildcard)"},
    {"^1.2\"", R"("^1.2\"")", R"("2\"" is not a number or wildcard)"},
};

class RangeParseInvalidTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(RangeParseInvalidTest, RejectsWithInvalidCodeQuotingTheInput) {
  const InvalidCase& c = GetParam();
  auto range = Range::Parse(c.text);
  ASSERT_FALSE(range.ok()) << "parsed as " << range->Normalized();
  EXPECT_EQ(range.error().code(), ErrorCode::kInvalid);
  EXPECT_THAT(range.error().message(), StartsWith("invalid range " + std::string(c.quoted) + ": "));
  EXPECT_THAT(range.error().message(), HasSubstr(std::string(c.reason)));
}

INSTANTIATE_TEST_SUITE_P(Table, RangeParseInvalidTest, ::testing::ValuesIn(kInvalidCases));

TEST(RangeTest, TextIsTheTrimmedInput) {
  EXPECT_EQ(R("  ^2.1 \n").text(), "^2.1");
  EXPECT_EQ(R(">= 1.4.0  <3.0.0").text(), ">= 1.4.0  <3.0.0");
  EXPECT_EQ(R("").text(), "");
}

TEST(RangeTest, ExposesDesugaredComparatorSets) {
  const Range range = R("^2.1 || 1.2.3");
  ASSERT_EQ(range.sets().size(), 2u);
  ASSERT_EQ(range.sets()[0].size(), 2u);
  EXPECT_EQ(range.sets()[0][0].op, Range::Op::kGreaterEqual);
  EXPECT_EQ(range.sets()[0][0].version.ToString(), "2.1.0");
  EXPECT_EQ(range.sets()[0][1].op, Range::Op::kLess);
  EXPECT_EQ(range.sets()[0][1].version.ToString(), "3.0.0-0");
  ASSERT_EQ(range.sets()[1].size(), 1u);
  EXPECT_EQ(range.sets()[1][0].op, Range::Op::kEqual);
  EXPECT_EQ(range.sets()[1][0].version.ToString(), "1.2.3");
}

TEST(RangeTest, MatchAllIsOneEmptySet) {
  for (std::string_view text : {"", "*", "x", ">=0.0.0"}) {
    const Range range = R(text);
    ASSERT_EQ(range.sets().size(), 1u) << text;
    EXPECT_TRUE(range.sets()[0].empty()) << text;
  }
}

TEST(RangeTest, DefaultConstructedRangeMatchesNothing) {
  const Range range;
  EXPECT_TRUE(range.sets().empty());
  EXPECT_FALSE(range.Satisfies(V("0.0.0")));
  EXPECT_FALSE(range.Satisfies(V("1.2.3")));
  EXPECT_EQ(range.Normalized(), "<0.0.0-0");
}

TEST(RangeTest, BuildMetadataIsDroppedFromComparators) {
  const Range range = R(">=1.2.3-rc.1+build.7");
  ASSERT_EQ(range.sets().size(), 1u);
  ASSERT_EQ(range.sets()[0].size(), 1u);
  EXPECT_TRUE(range.sets()[0][0].version.build().empty());
}

}  // namespace
}  // namespace shipd
