#include "shipd/model/semver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <compare>
#include <cstdint>
#include <iterator>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace shipd {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint64_t kMax = UINT64_MAX;

std::string Join(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) {
    if (!out.empty()) {
      out += '.';
    }
    out += id;
  }
  return out;
}

// Parses text that the test knows is valid.
Semver V(std::string_view text) {
  auto version = Semver::Parse(text);
  EXPECT_TRUE(version.ok()) << text << ": " << version.error().message();
  return version.ok() ? *version : Semver();
}

struct ValidCase {
  std::string_view text;
  uint64_t major;
  uint64_t minor;
  uint64_t patch;
  std::string_view prerelease;  // identifiers joined with '.'
  std::string_view build;
  std::string_view canonical;
};

void PrintTo(const ValidCase& c, std::ostream* os) { *os << '"' << c.text << '"'; }

constexpr ValidCase kValidCases[] = {
    {"0.0.0", 0, 0, 0, "", "", "0.0.0"},
    {"1.2.3", 1, 2, 3, "", "", "1.2.3"},
    {"10.20.30", 10, 20, 30, "", "", "10.20.30"},
    {"999999999.0.0", 999999999, 0, 0, "", "", "999999999.0.0"},
    {"v1.2.3", 1, 2, 3, "", "", "1.2.3"},
    {"V1.2.3", 1, 2, 3, "", "", "1.2.3"},
    {"v0.0.1-0+0", 0, 0, 1, "0", "0", "0.0.1-0+0"},
    {"1.0.0-alpha", 1, 0, 0, "alpha", "", "1.0.0-alpha"},
    {"1.0.0-ALPHA", 1, 0, 0, "ALPHA", "", "1.0.0-ALPHA"},
    {"1.0.0-alpha.1", 1, 0, 0, "alpha.1", "", "1.0.0-alpha.1"},
    {"1.0.0-alpha.beta", 1, 0, 0, "alpha.beta", "", "1.0.0-alpha.beta"},
    {"1.0.0-0.3.7", 1, 0, 0, "0.3.7", "", "1.0.0-0.3.7"},
    {"1.0.0-x.7.z.92", 1, 0, 0, "x.7.z.92", "", "1.0.0-x.7.z.92"},
    {"1.2.3-0", 1, 2, 3, "0", "", "1.2.3-0"},
    {"0.0.0-0", 0, 0, 0, "0", "", "0.0.0-0"},
    {"1.2.3-0a", 1, 2, 3, "0a", "", "1.2.3-0a"},
    {"1.2.3-00a", 1, 2, 3, "00a", "", "1.2.3-00a"},
    {"1.2.3-0-0", 1, 2, 3, "0-0", "", "1.2.3-0-0"},
    {"1.2.3--", 1, 2, 3, "-", "", "1.2.3--"},
    {"1.2.3-a-", 1, 2, 3, "a-", "", "1.2.3-a-"},
    {"1.2.3-x-y-z.--", 1, 2, 3, "x-y-z.--", "", "1.2.3-x-y-z.--"},
    {"1.2.3-DEV-SNAPSHOT", 1, 2, 3, "DEV-SNAPSHOT", "", "1.2.3-DEV-SNAPSHOT"},
    {"1.2.3-SNAPSHOT-123", 1, 2, 3, "SNAPSHOT-123", "", "1.2.3-SNAPSHOT-123"},
    {"1.2.3-99999999999999999999999", 1, 2, 3, "99999999999999999999999", "",
     "1.2.3-99999999999999999999999"},
    {"1.0.0+20130313144700", 1, 0, 0, "", "20130313144700", "1.0.0+20130313144700"},
    {"1.0.0-alpha+001", 1, 0, 0, "alpha", "001", "1.0.0-alpha+001"},
    {"1.0.0-beta+exp.sha.5114f85", 1, 0, 0, "beta", "exp.sha.5114f85",
     "1.0.0-beta+exp.sha.5114f85"},
    {"1.0.0+21AF26D3----117B344092BD", 1, 0, 0, "", "21AF26D3----117B344092BD",
     "1.0.0+21AF26D3----117B344092BD"},
    {"1.2.3-rc.1+build.5", 1, 2, 3, "rc.1", "build.5", "1.2.3-rc.1+build.5"},
    {"1.2.3+build.01", 1, 2, 3, "", "build.01", "1.2.3+build.01"},
    {"1.2.3+0", 1, 2, 3, "", "0", "1.2.3+0"},
    {"1.2.3+a.b.c", 1, 2, 3, "", "a.b.c", "1.2.3+a.b.c"},
    {"1.2.3+-", 1, 2, 3, "", "-", "1.2.3+-"},
    {"1.2.3-rc-1+build-1", 1, 2, 3, "rc-1", "build-1", "1.2.3-rc-1+build-1"},
    {"1.2.3----RC-SNAPSHOT.12.9.1--.12+788", 1, 2, 3, "---RC-SNAPSHOT.12.9.1--.12", "788",
     "1.2.3----RC-SNAPSHOT.12.9.1--.12+788"},
    {"V2.0.0-rc.1+build.123", 2, 0, 0, "rc.1", "build.123", "2.0.0-rc.1+build.123"},
    {"18446744073709551615.18446744073709551615.18446744073709551615", kMax, kMax, kMax, "", "",
     "18446744073709551615.18446744073709551615.18446744073709551615"},
    {"0.18446744073709551615.0", 0, kMax, 0, "", "", "0.18446744073709551615.0"},
};

class SemverParseValidTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(SemverParseValidTest, ParsesComponentsAndPrintsCanonicalText) {
  const ValidCase& c = GetParam();
  auto version = Semver::Parse(c.text);
  ASSERT_TRUE(version.ok()) << version.error().message();
  EXPECT_EQ(version->major(), c.major);
  EXPECT_EQ(version->minor(), c.minor);
  EXPECT_EQ(version->patch(), c.patch);
  EXPECT_EQ(Join(version->prerelease()), c.prerelease);
  EXPECT_EQ(Join(version->build()), c.build);
  EXPECT_EQ(version->is_prerelease(), !c.prerelease.empty());
  EXPECT_EQ(version->ToString(), c.canonical);
}

TEST_P(SemverParseValidTest, CanonicalTextParsesBackToTheSameVersion) {
  const ValidCase& c = GetParam();
  const Semver version = V(c.text);
  auto again = Semver::Parse(version.ToString());
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(*again, version);
  EXPECT_EQ(again->build(), version.build());
  EXPECT_EQ(again->ToString(), version.ToString());
}

INSTANTIATE_TEST_SUITE_P(Table, SemverParseValidTest, ::testing::ValuesIn(kValidCases));

struct InvalidCase {
  std::string_view text;
  std::string_view quoted;  // how the message quotes the input
  std::string_view reason;  // a fragment of the message that names the problem
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.quoted; }

constexpr InvalidCase kInvalidCases[] = {
    {"", R"("")", "empty string"},
    {" 1.2.3", R"(" 1.2.3")", "contains whitespace"},
    {"1.2.3 ", R"("1.2.3 ")", "contains whitespace"},
    {"1 .2.3", R"("1 .2.3")", "contains whitespace"},
    {"1.2.3-rc.1 ", R"("1.2.3-rc.1 ")", "contains whitespace"},
    {"1.2.3\n", R"("1.2.3\x0a")", "contains whitespace"},
    {"\t1.2.3", R"("\x091.2.3")", "contains whitespace"},
    {"1", R"("1")", "expected MAJOR.MINOR.PATCH, got 1 component"},
    {"1.2", R"("1.2")", "expected MAJOR.MINOR.PATCH, got 2 components"},
    {"1.2.3.4", R"("1.2.3.4")", "expected MAJOR.MINOR.PATCH, got 4 components"},
    {"v", R"("v")", "expected MAJOR.MINOR.PATCH"},
    {"1,2,3", R"("1,2,3")", "expected MAJOR.MINOR.PATCH"},
    {"-1.2.3", R"("-1.2.3")", "expected MAJOR.MINOR.PATCH"},
    {"+1.2.3", R"("+1.2.3")", "expected MAJOR.MINOR.PATCH"},
    {"1.2-rc.1", R"("1.2-rc.1")", "got 2 components"},
    {".1.2", R"(".1.2")", "major version is empty"},
    {"1..3", R"("1..3")", "minor version is empty"},
    {"1.2.", R"("1.2.")", "patch version is empty"},
    {"1.2.+build", R"("1.2.+build")", "patch version is empty"},
    {"a.b.c", R"("a.b.c")", R"(major version "a" is not a number)"},
    {"vv1.2.3", R"("vv1.2.3")", R"(major version "v1" is not a number)"},
    {"=1.2.3", R"("=1.2.3")", R"(major version "=1" is not a number)"},
    {">1.2.3", R"(">1.2.3")", R"(major version ">1" is not a number)"},
    {"x.2.3", R"("x.2.3")", R"(major version "x" is not a number)"},
    {"1.b.3", R"("1.b.3")", R"(minor version "b" is not a number)"},
    {"1.2.c", R"("1.2.c")", R"(patch version "c" is not a number)"},
    {"1.2.3a", R"("1.2.3a")", R"(patch version "3a" is not a number)"},
    {"1.2.*", R"("1.2.*")", R"(patch version "*" is not a number)"},
    {"1.2.3_4", R"("1.2.3_4")", R"(patch version "3_4" is not a number)"},
    {"\xef\xbc\x91.2.3", R"("\xef\xbc\x91.2.3")", R"(major version "\xef\xbc\x91" is not)"},
    {"01.2.3", R"("01.2.3")", R"(numeric identifier "01" has a leading zero)"},
    {"1.02.3", R"("1.02.3")", R"(numeric identifier "02" has a leading zero)"},
    {"1.2.03", R"("1.2.03")", R"(numeric identifier "03" has a leading zero)"},
    {"00.0.0", R"("00.0.0")", R"(numeric identifier "00" has a leading zero)"},
    {"1.2.3-01", R"("1.2.3-01")", R"(numeric identifier "01" has a leading zero)"},
    {"1.2.3-00", R"("1.2.3-00")", R"(numeric identifier "00" has a leading zero)"},
    {"1.2.3-alpha.01", R"("1.2.3-alpha.01")", R"(numeric identifier "01" has a leading zero)"},
    {"18446744073709551616.0.0", R"("18446744073709551616.0.0")",
     R"(numeric identifier "18446744073709551616" does not fit in 64 bits)"},
    {"0.99999999999999999999.0", R"("0.99999999999999999999.0")",
     R"("99999999999999999999" does not fit in 64 bits)"},
    {"0.0.184467440737095516150", R"("0.0.184467440737095516150")", "does not fit in 64 bits"},
    {"1.2.3-", R"("1.2.3-")", "empty prerelease identifier"},
    {"1.2.3-.alpha", R"("1.2.3-.alpha")", "empty prerelease identifier"},
    {"1.2.3-alpha.", R"("1.2.3-alpha.")", "empty prerelease identifier"},
    {"1.2.3-alpha..1", R"("1.2.3-alpha..1")", "empty prerelease identifier"},
    {"1.2.3-+build", R"("1.2.3-+build")", "empty prerelease identifier"},
    {"1.2.3+", R"("1.2.3+")", "empty build identifier"},
    {"1.2.3+.", R"("1.2.3+.")", "empty build identifier"},
    {"1.2.3+a..b", R"("1.2.3+a..b")", "empty build identifier"},
    {"1.2.3-alpha_beta", R"("1.2.3-alpha_beta")",
     R"(prerelease identifier "alpha_beta" contains "_")"},
    {"1.2.3-beta!", R"("1.2.3-beta!")", R"(prerelease identifier "beta!" contains "!")"},
    {"1.2.3-\xce\xb1", R"("1.2.3-\xce\xb1")", R"(prerelease identifier "\xce\xb1" contains)"},
    {"1.2.3+build_1", R"("1.2.3+build_1")", R"(build identifier "build_1" contains "_")"},
    {"1.2.3+b+c", R"("1.2.3+b+c")", R"(build identifier "b+c" contains "+")"},
    {"1.2.3+\"x\"", R"("1.2.3+\"x\"")", R"(build identifier "\"x\"" contains "\"")"},
};

class SemverParseInvalidTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(SemverParseInvalidTest, RejectsWithInvalidCodeQuotingTheInput) {
  const InvalidCase& c = GetParam();
  auto version = Semver::Parse(c.text);
  ASSERT_FALSE(version.ok()) << "parsed as " << version->ToString();
  EXPECT_EQ(version.error().code(), ErrorCode::kInvalid);
  EXPECT_THAT(version.error().message(),
              StartsWith("invalid version " + std::string(c.quoted) + ": "));
  EXPECT_THAT(version.error().message(), HasSubstr(std::string(c.reason)));
}

INSTANTIATE_TEST_SUITE_P(Table, SemverParseInvalidTest, ::testing::ValuesIn(kInvalidCases));

// Strictly increasing precedence.
constexpr std::string_view kAscending[] = {
    "0.0.0-0",
    "0.0.0-0.0",
    "0.0.0-1",
    "0.0.0-alpha",
    "0.0.0",
    "0.0.1",
    "0.1.0-rc",
    "0.1.0",
    "0.9.9",
    "0.10.0",
    "1.0.0-0",
    "1.0.0-1",
    "1.0.0-2",
    "1.0.0-10",
    "1.0.0-11",
    "1.0.0-100",
    "1.0.0-A",
    "1.0.0-Z",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.1.0",
    "1.0.0-alpha.2",
    "1.0.0-alpha.beta",
    "1.0.0-alpha-1",
    "1.0.0-alpha0",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0-rc.1.1",
    "1.0.0",
    "1.0.1-0",
    "1.0.1",
    "1.1.0",
    "1.2.0",
    "1.10.0",
    "2.0.0-rc.1",
    "2.0.0-rc.2",
    "2.0.0-rc.10",
    "2.0.0-rc.10.1",
    "2.0.0-rc.a",
    "2.0.0",
    "9.0.0",
    "10.0.0",
    "18446744073709551615.0.0-99999999999999999999",
    "18446744073709551615.0.0-100000000000000000000",
    "18446744073709551615.0.0-a",
    "18446744073709551615.0.0",
    "18446744073709551615.18446744073709551615.18446744073709551615",
};

TEST(SemverOrderTest, OrdersLongSortedListByPrecedence) {
  for (size_t i = 0; i < std::size(kAscending); ++i) {
    const Semver a = V(kAscending[i]);
    EXPECT_TRUE(std::is_eq(a <=> a)) << kAscending[i];
    for (size_t j = i + 1; j < std::size(kAscending); ++j) {
      const Semver b = V(kAscending[j]);
      EXPECT_TRUE(a < b) << kAscending[i] << " < " << kAscending[j];
      EXPECT_TRUE(b > a) << kAscending[j] << " > " << kAscending[i];
      EXPECT_FALSE(a == b) << kAscending[i] << " != " << kAscending[j];
    }
  }
}

TEST(SemverOrderTest, SortingShuffledListRestoresPrecedenceOrder) {
  std::vector<Semver> versions;
  for (std::string_view text : kAscending) {
    versions.push_back(V(text));
  }
  // A fixed shuffle: reverse, then interleave the two halves.
  std::reverse(versions.begin(), versions.end());
  std::vector<Semver> shuffled;
  const size_t half = (versions.size() + 1) / 2;
  for (size_t i = 0; i < versions.size(); ++i) {
    shuffled.push_back(versions[i % 2 == 0 ? i / 2 : half + i / 2]);
  }
  ASSERT_NE(shuffled.front().ToString(), kAscending[0]);
  std::sort(shuffled.begin(), shuffled.end());
  ASSERT_EQ(shuffled.size(), std::size(kAscending));
  for (size_t i = 0; i < shuffled.size(); ++i) {
    EXPECT_EQ(shuffled[i].ToString(), kAscending[i]);
  }
}

struct CompareCase {
  std::string_view a;
  std::string_view b;
  int expected;  // sign of a <=> b
};

void PrintTo(const CompareCase& c, std::ostream* os) { *os << c.a << " vs " << c.b; }

constexpr CompareCase kCompareCases[] = {
    // Major, minor and patch compare numerically, not as text.
    {"2.0.0", "10.0.0", -1},
    {"1.9.0", "1.10.0", -1},
    {"1.0.9", "1.0.10", -1},
    {"1.2.3", "1.2.3", 0},
    {"v1.2.3", "1.2.3", 0},
    {"V1.2.3", "v1.2.3", 0},
    {"2.0.0", "1.99.99", 1},
    // Numeric prerelease identifiers compare numerically.
    {"1.0.0-2", "1.0.0-10", -1},
    {"1.0.0-rc.9", "1.0.0-rc.10", -1},
    {"1.0.0-99999999999999999999", "1.0.0-100000000000000000000", -1},
    {"1.0.0-18446744073709551616", "1.0.0-18446744073709551615", 1},
    // Numeric identifiers are lower than alphanumeric ones.
    {"1.0.0-999", "1.0.0-a", -1},
    {"1.0.0-1", "1.0.0-1a", -1},
    {"1.0.0-rc.1", "1.0.0-rc.a", -1},
    // Alphanumeric identifiers compare in ASCII order.
    {"1.0.0-Beta", "1.0.0-alpha", -1},
    {"1.0.0-alpha", "1.0.0-beta", -1},
    {"1.0.0-a-b", "1.0.0-a0", -1},
    {"1.0.0-rc10", "1.0.0-rc9", -1},
    // A longer identifier list wins when the shorter one is its prefix.
    {"1.0.0-alpha", "1.0.0-alpha.0", -1},
    {"1.0.0-alpha.1", "1.0.0-alpha.1.1", -1},
    {"1.0.0-1.2.3", "1.0.0-1.2", 1},
    // A release outranks its prereleases but not an earlier release's.
    {"1.0.0", "1.0.0-rc.1", 1},
    {"1.0.0", "1.0.0-0", 1},
    {"1.0.0", "1.0.1-0", -1},
    {"1.0.0-zzz", "1.0.0", -1},
    // Build metadata never affects precedence.
    {"1.0.0+a", "1.0.0+b", 0},
    {"1.0.0+20130313144700", "1.0.0", 0},
    {"1.0.0-rc.1+x", "1.0.0-rc.1+y.z", 0},
    {"1.0.0+zzz", "1.0.1", -1},
    {"1.0.0-alpha+999", "1.0.0-beta+1", -1},
};

class SemverCompareTest : public ::testing::TestWithParam<CompareCase> {};

int Sign(std::weak_ordering order) { return std::is_lt(order) ? -1 : (std::is_gt(order) ? 1 : 0); }

TEST_P(SemverCompareTest, ComparesByPrecedence) {
  const CompareCase& c = GetParam();
  const Semver a = V(c.a);
  const Semver b = V(c.b);
  EXPECT_EQ(Sign(a <=> b), c.expected);
  EXPECT_EQ(Sign(b <=> a), -c.expected);
  EXPECT_EQ(a == b, c.expected == 0);
}

INSTANTIATE_TEST_SUITE_P(Table, SemverCompareTest, ::testing::ValuesIn(kCompareCases));

TEST(SemverTest, DefaultIsZeroRelease) {
  const Semver version;
  EXPECT_EQ(version.ToString(), "0.0.0");
  EXPECT_FALSE(version.is_prerelease());
  EXPECT_EQ(version, V("0.0.0"));
}

TEST(SemverTest, ConstructorBuildsRelease) {
  const Semver version(3, 14, 159);
  EXPECT_EQ(version.ToString(), "3.14.159");
  EXPECT_EQ(version, V("v3.14.159"));
  EXPECT_TRUE(version > V("3.14.159-rc.1"));
}

TEST(SemverTest, EqualPrecedenceKeepsBuildForPrinting) {
  const Semver a = V("1.2.3+linux.amd64");
  const Semver b = V("1.2.3+darwin.arm64");
  EXPECT_EQ(a, b);
  EXPECT_NE(a.ToString(), b.ToString());
  EXPECT_EQ(a.build(), (std::vector<std::string>{"linux", "amd64"}));
}

}  // namespace
}  // namespace shipd
