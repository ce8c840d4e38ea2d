// SqliteStore against real database files in a temporary directory. Raw SQLiteCpp connections
// inspect and tamper with the file from outside, the way an operator with sqlite3 could.
#include <SQLiteCpp/SQLiteCpp.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shipd/store/store.h"

#ifndef SHIPD_SOURCE_DIR
#error "SHIPD_SOURCE_DIR must name the source tree (for migrations/)"
#endif

namespace shipd {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

Semver V(const std::string& text) {
  Result<Semver> version = Semver::Parse(text);
  EXPECT_TRUE(version.ok()) << text;
  return version.ok() ? *version : Semver();
}

Range R(const std::string& text) {
  Result<Range> range = Range::Parse(text);
  EXPECT_TRUE(range.ok()) << text;
  return range.ok() ? *range : Range();
}

Event MakeEvent(const std::string& kind, const std::string& subject,
                const std::string& data = R"({"by":"test"})") {
  return Event{0, 1700000000000, "tester", kind, subject, data};
}

Version OrdersVersion(const std::string& version) {
  Version v;
  v.service = "orders";
  v.version = V(version);
  v.artifact = "registry.example.com/orders:" + version;
  v.commit = "0123456789abcdef0123456789abcdef01234567";
  v.tag = "v" + version;
  v.provides = {{"orders", V("3.1.0"), R"({"openapi":"3.0.3","paths":{}})"},
                {"orders-admin", V("1.0.0"), ""}};
  v.requires_ = {{"billing", R("^2.1"), false}, {"users", R(">=1.4.0 <3.0.0"), true}};
  v.content_hash = "hash-of-" + version;
  v.created_at = 1700000000123;
  return v;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "shipd-store-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    db_path_ = (dir_ / "shipd.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<std::unique_ptr<Store>> OpenWith(const std::string& migrations = "") {
    return OpenSqliteStore(SqliteOptions{db_path_, migrations});
  }

  std::unique_ptr<Store> Open() {
    Result<std::unique_ptr<Store>> store = OpenWith();
    EXPECT_TRUE(store.ok()) << store.error().message();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // The repository's migrations (the compiled-in set): numbers and file names, in order.
  static std::vector<std::pair<int64_t, std::string>> RealMigrations() {
    std::vector<std::pair<int64_t, std::string>> real;
    for (const auto& entry : fs::directory_iterator(fs::path(SHIPD_SOURCE_DIR) / "migrations")) {
      const std::string name = entry.path().filename().string();
      real.emplace_back(std::stoll(name.substr(0, 4)), name);
    }
    std::sort(real.begin(), real.end());
    return real;
  }
  // The numbers of the real migrations, followed by `extra`.
  static std::vector<int64_t> RealNumbersAnd(std::vector<int64_t> extra = {}) {
    std::vector<int64_t> numbers;
    for (const auto& [number, name] : RealMigrations()) numbers.push_back(number);
    numbers.insert(numbers.end(), extra.begin(), extra.end());
    return numbers;
  }

  // A migrations directory holding the real migrations plus `extra` (name -> SQL).
  std::string MigrationsDir(const std::vector<std::pair<std::string, std::string>>& extra,
                            bool with_init = true) {
    fs::path dir = dir_ / ("migrations-" + std::to_string(++migration_dirs_));
    fs::create_directories(dir);
    if (with_init) {
      for (const auto& [number, name] : RealMigrations()) {
        fs::copy_file(fs::path(SHIPD_SOURCE_DIR) / "migrations" / name, dir / name);
      }
    }
    for (const auto& [name, sql] : extra) {
      WriteFile(dir / name, sql);
    }
    return dir.string();
  }

  std::vector<int64_t> AppliedMigrations() {
    SQLite::Database raw(db_path_, SQLite::OPEN_READONLY);
    SQLite::Statement query(raw, "SELECT version FROM schema_migrations ORDER BY version");
    std::vector<int64_t> versions;
    while (query.executeStep()) {
      versions.push_back(query.getColumn(0).getInt64());
    }
    return versions;
  }

  bool TableExists(const std::string& table) {
    SQLite::Database raw(db_path_, SQLite::OPEN_READONLY);
    return raw.tableExists(table);
  }

  int64_t Count(const std::string& table) {
    SQLite::Database raw(db_path_, SQLite::OPEN_READONLY);
    return raw.execAndGet("SELECT count(*) FROM " + table).getInt64();
  }

  fs::path dir_;
  std::string db_path_;
  int migration_dirs_ = 0;
};

TEST_F(SqliteStoreTest, MigrationsApplyOnceAndAreRecorded) {
  ASSERT_NE(Open(), nullptr);
  SQLite::Database raw(db_path_, SQLite::OPEN_READONLY);
  SQLite::Statement query(raw, "SELECT version, name, applied_at FROM schema_migrations");
  ASSERT_TRUE(query.executeStep());
  EXPECT_EQ(query.getColumn(0).getInt64(), 1);
  EXPECT_EQ(query.getColumn(1).getString(), "0001_init.sql");
  EXPECT_GT(query.getColumn(2).getInt64(), 0);
  EXPECT_EQ(AppliedMigrations(), RealNumbersAnd());
  for (const char* table : {"services", "versions", "provides", "requires", "environments",
                            "deployments", "events", "tokens"}) {
    EXPECT_TRUE(raw.tableExists(table)) << table;
  }
  EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST_F(SqliteStoreTest, ReopeningIsANoOp) {
  ASSERT_NE(Open(), nullptr);
  int64_t applied_at = 0;
  {
    SQLite::Database raw(db_path_, SQLite::OPEN_READONLY);
    applied_at =
        raw.execAndGet("SELECT applied_at FROM schema_migrations WHERE version = 1").getInt64();
  }
  ASSERT_NE(Open(), nullptr);
  ASSERT_NE(Open(), nullptr);
  EXPECT_EQ(AppliedMigrations(), RealNumbersAnd());
  SQLite::Database raw(db_path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("SELECT applied_at FROM schema_migrations WHERE version = 1").getInt64(),
            applied_at);
}

TEST_F(SqliteStoreTest, AppliesOnlyTheMigrationsNotYetApplied) {
  ASSERT_NE(Open(), nullptr);
  std::string dir = MigrationsDir({{"9001_extra.sql", "CREATE TABLE extra (x INTEGER) STRICT;"}});
  Result<std::unique_ptr<Store>> store = OpenWith(dir);
  ASSERT_TRUE(store.ok()) << store.error().message();
  EXPECT_EQ(AppliedMigrations(), RealNumbersAnd({9001}));
  EXPECT_TRUE(TableExists("extra"));
}

TEST_F(SqliteStoreTest, RefusesDatabaseWithNewerSchema) {
  std::string newer = MigrationsDir({{"9001_extra.sql", "CREATE TABLE extra (x INTEGER) STRICT;"}});
  ASSERT_TRUE(OpenWith(newer).ok());

  Result<std::unique_ptr<Store>> store = OpenWith();  // the compiled-in set ends before 9001
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalid);
  EXPECT_THAT(store.error().message(), HasSubstr(db_path_));
  EXPECT_THAT(store.error().message(), HasSubstr("9001 (9001_extra.sql)"));
  const auto [newest_number, newest_name] = RealMigrations().back();
  EXPECT_THAT(store.error().message(),
              HasSubstr(std::to_string(newest_number) + " (" + newest_name + ")"));
  EXPECT_THAT(store.error().message(), HasSubstr("newer"));
  EXPECT_EQ(AppliedMigrations(), RealNumbersAnd({9001}));
}

TEST_F(SqliteStoreTest, RefusesDatabaseWhoseMigrationHistoryDiverges) {
  ASSERT_TRUE(OpenWith(MigrationsDir({{"9001_left.sql", "CREATE TABLE l (x INTEGER);"}})).ok());
  Result<std::unique_ptr<Store>> store =
      OpenWith(MigrationsDir({{"9001_right.sql", "CREATE TABLE r (x INTEGER);"}}));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalid);
  EXPECT_THAT(store.error().message(), HasSubstr("9001_left.sql"));
  EXPECT_THAT(store.error().message(), HasSubstr("9001_right.sql"));
}

TEST_F(SqliteStoreTest, FailingMigrationLeavesNothingApplied) {
  std::string broken = MigrationsDir(
      {{"9001_broken.sql",
        "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);"}});
  Result<std::unique_ptr<Store>> store = OpenWith(broken);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kIo);
  EXPECT_THAT(store.error().message(), HasSubstr("9001_broken.sql"));
  EXPECT_THAT(store.error().message(), HasSubstr("no_such_table"));
  EXPECT_EQ(AppliedMigrations(), RealNumbersAnd());
  EXPECT_FALSE(TableExists("half_done"));

  // Once fixed, the same migration applies.
  WriteFile(fs::path(broken) / "9001_broken.sql", "CREATE TABLE half_done (x INTEGER);");
  ASSERT_TRUE(OpenWith(broken).ok());
  EXPECT_EQ(AppliedMigrations(), RealNumbersAnd({9001}));
  EXPECT_TRUE(TableExists("half_done"));
}

TEST_F(SqliteStoreTest, FailingFirstMigrationLeavesAnEmptyDatabase) {
  std::string broken = MigrationsDir(
      {{"0001_broken.sql", "CREATE TABLE first (x INTEGER);\nSELEC oops;"}}, /*with_init=*/false);
  Result<std::unique_ptr<Store>> store = OpenWith(broken);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.error().message(), HasSubstr("0001_broken.sql"));
  EXPECT_THAT(AppliedMigrations(), IsEmpty());
  EXPECT_FALSE(TableExists("first"));
}

TEST_F(SqliteStoreTest, RejectsBadlyNamedOrOrderedMigrations) {
  Result<std::unique_ptr<Store>> unnumbered = OpenWith(MigrationsDir({{"extra.sql", "SELECT 1;"}}));
  ASSERT_FALSE(unnumbered.ok());
  EXPECT_EQ(unnumbered.error().code(), ErrorCode::kInvalid);
  EXPECT_THAT(unnumbered.error().message(), HasSubstr("NNNN_name.sql"));

  Result<std::unique_ptr<Store>> duplicate =
      OpenWith(MigrationsDir({{"0002_a.sql", "SELECT 1;"}, {"0002_b.sql", "SELECT 1;"}}));
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kInvalid);
  EXPECT_THAT(duplicate.error().message(), HasSubstr("0002_b.sql"));
  EXPECT_FALSE(TableExists("schema_migrations"));
}

TEST_F(SqliteStoreTest, OpenFailureIsAnErrorNotAnException) {
  Result<std::unique_ptr<Store>> store =
      OpenSqliteStore(SqliteOptions{(dir_ / "no" / "such" / "dir" / "shipd.db").string(), ""});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kIo);
  EXPECT_THAT(store.error().message(), HasSubstr("no/such/dir/shipd.db"));

  Result<std::unique_ptr<Store>> missing_dir = OpenWith((dir_ / "nope").string());
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_THAT(missing_dir.error().message(), HasSubstr("nope"));
}

TEST_F(SqliteStoreTest, RoundTripsServicesAndVersionsWithContracts) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->InsertService({"orders", "https://git.example.com/orders.git", 1700000000001},
                                  {MakeEvent("service.registered", "orders")})
                  .ok());
  ASSERT_TRUE(store->InsertService({"web", "", 1700000000002}, {}).ok());

  Version v1 = OrdersVersion("1.2.0");
  Version v2 = OrdersVersion("2.0.0-rc.1+build.5");
  v2.requires_.clear();
  ASSERT_TRUE(store->InsertVersion(v1, {MakeEvent("version.registered", "orders@1.2.0")}).ok());
  ASSERT_TRUE(store->InsertVersion(v2, {}).ok());

  Result<StoreContents> contents = store->LoadAll();
  ASSERT_TRUE(contents.ok()) << contents.error().message();
  ASSERT_EQ(contents->services.size(), 2u);
  EXPECT_EQ(contents->services[0].name, "orders");
  EXPECT_EQ(contents->services[0].repo, "https://git.example.com/orders.git");
  EXPECT_EQ(contents->services[0].created_at, 1700000000001);
  EXPECT_EQ(contents->services[1].name, "web");

  ASSERT_EQ(contents->versions.size(), 2u);
  const Version& loaded = contents->versions[0];
  EXPECT_EQ(loaded.service, "orders");
  EXPECT_EQ(loaded.version.ToString(), "1.2.0");
  EXPECT_EQ(loaded.artifact, v1.artifact);
  EXPECT_EQ(loaded.commit, v1.commit);
  EXPECT_EQ(loaded.tag, "v1.2.0");
  EXPECT_EQ(loaded.content_hash, "hash-of-1.2.0");
  EXPECT_EQ(loaded.created_at, 1700000000123);
  ASSERT_EQ(loaded.provides.size(), 2u);
  EXPECT_EQ(loaded.provides[0].api, "orders");
  EXPECT_EQ(loaded.provides[0].version.ToString(), "3.1.0");
  EXPECT_EQ(loaded.provides[0].spec, "") << "specs are loaded on demand";
  EXPECT_EQ(loaded.provides[1].api, "orders-admin");
  ASSERT_EQ(loaded.requires_.size(), 2u);
  EXPECT_EQ(loaded.requires_[0].api, "billing");
  EXPECT_EQ(loaded.requires_[0].range.text(), "^2.1");
  EXPECT_FALSE(loaded.requires_[0].optional);
  EXPECT_TRUE(loaded.requires_[0].range.Satisfies(V("2.5.0")));
  EXPECT_EQ(loaded.requires_[1].api, "users");
  EXPECT_EQ(loaded.requires_[1].range.text(), ">=1.4.0 <3.0.0");
  EXPECT_TRUE(loaded.requires_[1].optional);

  EXPECT_EQ(contents->versions[1].version.ToString(), "2.0.0-rc.1+build.5");
  EXPECT_EQ(contents->versions[1].provides.size(), 2u);
  EXPECT_THAT(contents->versions[1].requires_, IsEmpty());
  EXPECT_EQ(contents->last_event_id, 2);

  Result<std::string> spec = store->LoadSpec("orders", "1.2.0", "orders");
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(*spec, R"({"openapi":"3.0.3","paths":{}})");
  Result<std::string> prefixed = store->LoadSpec("orders", "v1.2.0", "orders");
  ASSERT_TRUE(prefixed.ok());
  EXPECT_EQ(*prefixed, *spec);
  Result<std::string> no_spec = store->LoadSpec("orders", "1.2.0", "orders-admin");
  ASSERT_TRUE(no_spec.ok());
  EXPECT_EQ(*no_spec, "");
  Result<std::string> unknown = store->LoadSpec("orders", "1.2.0", "billing");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kNotFound);
}

TEST_F(SqliteStoreTest, LoadsContractRowsWrittenOutOfOrder) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->InsertService({"orders", "", 1}, {}).ok());
  ASSERT_TRUE(store->InsertVersion(OrdersVersion("1.0.0"), {}).ok());
  ASSERT_TRUE(store->InsertVersion(OrdersVersion("1.1.0"), {}).ok());
  {
    // Rows of an older version after those of a newer one, as a data repair might leave them.
    SQLite::Database raw(db_path_, SQLite::OPEN_READWRITE);
    raw.exec(
        "INSERT INTO provides (service, version, api, api_version) "
        "VALUES ('orders', '1.0.0', 'late', '1.0.0')");
    raw.exec(
        "INSERT INTO requires (service, version, api, range) "
        "VALUES ('orders', '1.0.0', 'late-dep', '~1.2')");
  }
  Result<StoreContents> contents = store->LoadAll();
  ASSERT_TRUE(contents.ok()) << contents.error().message();
  ASSERT_EQ(contents->versions.size(), 2u);
  ASSERT_EQ(contents->versions[0].provides.size(), 3u);
  EXPECT_EQ(contents->versions[0].provides[2].api, "late");
  ASSERT_EQ(contents->versions[0].requires_.size(), 3u);
  EXPECT_EQ(contents->versions[0].requires_[2].range.text(), "~1.2");
  EXPECT_EQ(contents->versions[1].provides.size(), 2u);
  EXPECT_EQ(contents->versions[1].requires_.size(), 2u);
}

TEST_F(SqliteStoreTest, SyncsEnvironmentsAndKeepsDeploymentsOfRemovedOnes) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->InsertService({"orders", "", 1}, {}).ok());
  ASSERT_TRUE(store->InsertVersion(OrdersVersion("1.2.0"), {}).ok());
  ASSERT_TRUE(store->InsertVersion(OrdersVersion("1.3.0-rc.1"), {}).ok());
  ASSERT_TRUE(
      store
          ->SyncEnvironments({{"dev", 0, ""}, {"staging", 1, "dev"}, {"prod", 2, "staging"}},
                             {MakeEvent("environments.synced", "pipelines")})
          .ok());

  Deployment staging{"staging", "orders", V("1.2.0"), std::nullopt, 0, 10, std::nullopt};
  ASSERT_TRUE(store->UpsertDeployment(staging, {}).ok());
  Deployment prod{"prod", "orders", V("1.2.0"), std::nullopt, 0, 11, V("1.1.0")};
  ASSERT_TRUE(store->UpsertDeployment(prod, {}).ok());
  prod.canary = V("1.3.0-rc.1");
  prod.canary_weight = 10;
  prod.updated_at = 12;
  Result<std::vector<int64_t>> ids = store->UpsertDeployment(
      prod, {MakeEvent("rollout.weight", "r-1"), MakeEvent("rollout.step", "r-1")});
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  EXPECT_THAT(*ids, ElementsAre(2, 3));

  ASSERT_TRUE(store->SyncEnvironments({{"dev", 0, ""}, {"prod", 1, "dev"}}, {}).ok());

  Result<StoreContents> contents = store->LoadAll();
  ASSERT_TRUE(contents.ok()) << contents.error().message();
  ASSERT_EQ(contents->environments.size(), 2u);
  EXPECT_EQ(contents->environments[0].name, "dev");
  EXPECT_EQ(contents->environments[0].after, "");
  EXPECT_EQ(contents->environments[1].name, "prod");
  EXPECT_EQ(contents->environments[1].position, 1);
  EXPECT_EQ(contents->environments[1].after, "dev");

  ASSERT_EQ(contents->deployments.size(), 2u);
  const Deployment& loaded_prod = contents->deployments[0];
  EXPECT_EQ(loaded_prod.environment, "prod");
  ASSERT_TRUE(loaded_prod.stable.has_value());
  EXPECT_EQ(loaded_prod.stable->ToString(), "1.2.0");
  ASSERT_TRUE(loaded_prod.canary.has_value());
  EXPECT_EQ(loaded_prod.canary->ToString(), "1.3.0-rc.1");
  EXPECT_EQ(loaded_prod.canary_weight, 10);
  EXPECT_EQ(loaded_prod.updated_at, 12);
  ASSERT_TRUE(loaded_prod.previous.has_value());
  EXPECT_EQ(loaded_prod.previous->ToString(), "1.1.0");
  EXPECT_EQ(contents->deployments[1].environment, "staging");
  EXPECT_FALSE(contents->deployments[1].canary.has_value());
  EXPECT_EQ(contents->last_event_id, 3);
}

TEST_F(SqliteStoreTest, DeploymentOfUnknownVersionIsNotFound) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->InsertService({"orders", "", 1}, {}).ok());
  Result<std::vector<int64_t>> ids =
      store->UpsertDeployment({"prod", "orders", V("9.9.9"), std::nullopt, 0, 1, std::nullopt}, {});
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(ids.error().message(), HasSubstr("deployment of orders in prod"));

  Result<std::vector<int64_t>> weight = store->UpsertDeployment(
      {"prod", "orders", std::nullopt, std::nullopt, 101, 1, std::nullopt}, {});
  ASSERT_FALSE(weight.ok());
  EXPECT_EQ(weight.error().code(), ErrorCode::kInvalid);
}

TEST_F(SqliteStoreTest, DuplicatesAreConflicts) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->InsertService({"orders", "", 1}, {}).ok());
  Result<std::vector<int64_t>> service = store->InsertService({"orders", "other", 2}, {});
  ASSERT_FALSE(service.ok());
  EXPECT_EQ(service.error().code(), ErrorCode::kConflict);
  EXPECT_THAT(service.error().message(), HasSubstr("inserting service orders"));

  ASSERT_TRUE(store->InsertVersion(OrdersVersion("1.2.0"), {}).ok());
  Result<std::vector<int64_t>> version = store->InsertVersion(OrdersVersion("1.2.0"), {});
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.error().code(), ErrorCode::kConflict);
  EXPECT_THAT(version.error().message(), HasSubstr("inserting version orders@1.2.0: "));
  // Build metadata does not make a different version.
  Result<std::vector<int64_t>> build = store->InsertVersion(OrdersVersion("1.2.0+rebuild"), {});
  ASSERT_FALSE(build.ok());
  EXPECT_EQ(build.error().code(), ErrorCode::kConflict);

  std::string hash(64, 'a');
  ASSERT_TRUE(store->InsertToken({"ci", hash, "deployer", 1}, {}).ok());
  Status same_hash = store->InsertToken({"other", hash, "admin", 2}, {});
  ASSERT_FALSE(same_hash.ok());
  EXPECT_EQ(same_hash.error().code(), ErrorCode::kConflict);
  Status same_name = store->InsertToken({"ci", std::string(64, 'b'), "admin", 2}, {});
  ASSERT_FALSE(same_name.ok());
  EXPECT_EQ(same_name.error().code(), ErrorCode::kConflict);

  Result<StoreContents> contents = store->LoadAll();
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->services.size(), 1u);
  EXPECT_EQ(contents->versions.size(), 1u);
}

TEST_F(SqliteStoreTest, VersionOfUnknownServiceIsNotFound) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  Result<std::vector<int64_t>> ids = store->InsertVersion(OrdersVersion("1.2.0"), {});
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Count("versions"), 0);
}

TEST_F(SqliteStoreTest, EventsAreAppendOnlyAndVersionsImmutable) {
  {
    std::unique_ptr<Store> store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->InsertService({"orders", "", 1}, {}).ok());
    ASSERT_TRUE(
        store->InsertVersion(OrdersVersion("1.2.0"), {MakeEvent("version.registered", "o")}).ok());
  }
  SQLite::Database raw(db_path_, SQLite::OPEN_READWRITE);
  for (const char* sql :
       {"UPDATE events SET actor = 'mallory'", "DELETE FROM events",
        "UPDATE versions SET artifact = 'evil:latest'", "UPDATE provides SET api_version = '4.0.0'",
        "UPDATE requires SET optional = 1"}) {
    try {
      raw.exec(sql);
      ADD_FAILURE() << "succeeded: " << sql;
    } catch (const SQLite::Exception& e) {
      EXPECT_THAT(e.what(), ::testing::AnyOf(HasSubstr("append-only"), HasSubstr("immutable")))
          << sql;
    }
  }
  EXPECT_EQ(Count("events"), 1);
  EXPECT_EQ(raw.execAndGet("SELECT actor FROM events").getString(), "tester");
  EXPECT_EQ(raw.execAndGet("SELECT artifact FROM versions").getString(),
            "registry.example.com/orders:1.2.0");
}

TEST_F(SqliteStoreTest, ListsEventsPageByPage) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<Event> events;
  events.reserve(25);
  for (int i = 0; i < 25; ++i) {
    events.push_back(MakeEvent("test.event", "e" + std::to_string(i)));
  }
  events[3].data = "";
  Result<std::vector<int64_t>> ids = store->AppendEvents(events);
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  ASSERT_EQ(ids->size(), 25u);
  EXPECT_EQ(ids->front(), 1);
  EXPECT_EQ(ids->back(), 25);

  Result<std::vector<Event>> first = store->ListEvents(0, 10);
  ASSERT_TRUE(first.ok()) << first.error().message();
  ASSERT_EQ(first->size(), 10u);
  EXPECT_EQ(first->front().id, 1);
  EXPECT_EQ(first->back().id, 10);
  const Event& e0 = first->front();
  EXPECT_EQ(e0.time, 1700000000000);
  EXPECT_EQ(e0.actor, "tester");
  EXPECT_EQ(e0.kind, "test.event");
  EXPECT_EQ(e0.subject, "e0");
  EXPECT_EQ(e0.data, R"({"by":"test"})");
  EXPECT_EQ((*first)[3].data, "{}") << "empty data is stored as an empty object";

  Result<std::vector<Event>> second = store->ListEvents(10, 10);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 10u);
  EXPECT_EQ(second->front().id, 11);
  Result<std::vector<Event>> last = store->ListEvents(20, 10);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 5u);
  EXPECT_EQ(last->back().id, 25);
  EXPECT_EQ(last->back().subject, "e24");
  Result<std::vector<Event>> none = store->ListEvents(25, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());
  EXPECT_FALSE(store->ListEvents(0, -1).ok());
}

TEST_F(SqliteStoreTest, InsertsAndFindsTokens) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  std::string hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  ASSERT_TRUE(
      store->InsertToken({"ci", hash, "deployer", 42}, {MakeEvent("token.created", "ci")}).ok());

  Result<std::optional<TokenRecord>> found = store->FindToken(hash);
  ASSERT_TRUE(found.ok()) << found.error().message();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->name, "ci");
  EXPECT_EQ((*found)->sha256_hex, hash);
  EXPECT_EQ((*found)->role, "deployer");
  EXPECT_EQ((*found)->created_at, 42);

  std::string upper = hash;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  Result<std::optional<TokenRecord>> found_upper = store->FindToken(upper);
  ASSERT_TRUE(found_upper.ok());
  EXPECT_TRUE(found_upper->has_value());

  Result<std::optional<TokenRecord>> missing = store->FindToken(std::string(64, '0'));
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  Status not_hex = store->InsertToken({"bad", "not-a-hash", "admin", 1}, {});
  ASSERT_FALSE(not_hex.ok());
  EXPECT_EQ(not_hex.error().code(), ErrorCode::kInvalid);
}

TEST_F(SqliteStoreTest, FindsTokensFromOtherThreadsWhileWriting) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  std::string hash(64, 'c');
  ASSERT_TRUE(store->InsertToken({"ci", hash, "deployer", 1}, {}).ok());
  ASSERT_TRUE(store->InsertService({"orders", "", 1}, {}).ok());

  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  readers.reserve(2);
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!done) {
        Result<std::optional<TokenRecord>> found = store->FindToken(hash);
        if (!found.ok() || !found->has_value()) {
          ++failures;
        }
      }
    });
  }
  for (int i = 0; i < 30; ++i) {
    Result<std::vector<int64_t>> ids = store->InsertVersion(
        OrdersVersion("1.0." + std::to_string(i)), {MakeEvent("version.registered", "o")});
    ASSERT_TRUE(ids.ok()) << ids.error().message();
  }
  done = true;
  for (std::thread& reader : readers) {
    reader.join();
  }
  EXPECT_EQ(failures, 0);
}

TEST_F(SqliteStoreTest, DataSurvivesClosingAndReopening) {
  {
    std::unique_ptr<Store> store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->InsertService({"orders", "repo", 1}, {}).ok());
    ASSERT_TRUE(store->InsertVersion(OrdersVersion("1.2.0"), {MakeEvent("v", "o")}).ok());
    ASSERT_TRUE(store->SyncEnvironments({{"dev", 0, ""}}, {}).ok());
    ASSERT_TRUE(
        store->UpsertDeployment({"dev", "orders", V("1.2.0"), std::nullopt, 0, 5, std::nullopt}, {})
            .ok());
    ASSERT_TRUE(store->InsertToken({"ci", std::string(64, 'd'), "deployer", 1}, {}).ok());
  }
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  Result<StoreContents> contents = store->LoadAll();
  ASSERT_TRUE(contents.ok()) << contents.error().message();
  EXPECT_EQ(contents->services.size(), 1u);
  ASSERT_EQ(contents->versions.size(), 1u);
  EXPECT_EQ(contents->versions[0].provides.size(), 2u);
  EXPECT_EQ(contents->versions[0].requires_.size(), 2u);
  EXPECT_EQ(contents->environments.size(), 1u);
  EXPECT_EQ(contents->deployments.size(), 1u);
  EXPECT_EQ(contents->last_event_id, 1);
  Result<std::string> spec = store->LoadSpec("orders", "1.2.0", "orders");
  ASSERT_TRUE(spec.ok());
  EXPECT_THAT(*spec, HasSubstr("openapi"));
  Result<std::optional<TokenRecord>> token = store->FindToken(std::string(64, 'd'));
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE(token->has_value());
  // New events continue the sequence.
  Result<std::vector<int64_t>> ids = store->AppendEvents({MakeEvent("x", "y")});
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre(2));
}

TEST_F(SqliteStoreTest, FailedEventInsertLeavesNoRowBehind) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  Result<std::vector<int64_t>> service = store->InsertService(
      {"orders", "", 1}, {MakeEvent("ok", "orders"), MakeEvent("bad", "orders", "{not json")});
  ASSERT_FALSE(service.ok());
  EXPECT_EQ(service.error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(Count("services"), 0);
  EXPECT_EQ(Count("events"), 0);

  ASSERT_TRUE(store->InsertService({"orders", "", 1}, {}).ok());
  Result<std::vector<int64_t>> version =
      store->InsertVersion(OrdersVersion("1.2.0"), {MakeEvent("bad", "orders@1.2.0", "{not json")});
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(Count("versions"), 0);
  EXPECT_EQ(Count("provides"), 0);
  EXPECT_EQ(Count("requires"), 0);
  EXPECT_EQ(Count("events"), 0);

  // The cached statements recover: the same insert with a good event goes through.
  Result<std::vector<int64_t>> retry =
      store->InsertVersion(OrdersVersion("1.2.0"), {MakeEvent("good", "orders@1.2.0")});
  ASSERT_TRUE(retry.ok()) << retry.error().message();
  EXPECT_EQ(Count("versions"), 1);
  EXPECT_EQ(Count("provides"), 2);
  Result<StoreContents> contents = store->LoadAll();
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->last_event_id, retry->front());
}

TEST_F(SqliteStoreTest, PromotionsRoundTripWithTheirDeployment) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->InsertService({"orders", "", 1}, {}).ok());
  ASSERT_TRUE(store->InsertVersion(OrdersVersion("1.2.0"), {}).ok());
  Promotion promotion;
  promotion.id = 7;
  promotion.service = "orders";
  promotion.version = V("1.2.0");
  promotion.environment = "staging";
  promotion.state = RolloutState::kSucceeded;
  promotion.requested_by = "ci";
  promotion.verdict = R"({"allowed":true})";
  promotion.created_at = 100;
  promotion.updated_at = 100;
  promotion.finished_at = 100;
  Deployment live{"staging", "orders", V("1.2.0"), std::nullopt, 0, 100, std::nullopt};
  auto ids = store->InsertPromotion(promotion, live, {MakeEvent("promotion.succeeded", "7")});
  ASSERT_TRUE(ids.ok()) << ids.error().message();

  Promotion waiting = promotion;
  waiting.id = 8;
  waiting.state = RolloutState::kWaiting;
  waiting.finished_at = 0;
  ASSERT_TRUE(store->InsertPromotion(waiting, std::nullopt, {}).ok());
  EXPECT_EQ(store->InsertPromotion(waiting, std::nullopt, {}).error().code(), ErrorCode::kConflict);

  auto contents = store->LoadAll();
  ASSERT_TRUE(contents.ok()) << contents.error().message();
  EXPECT_EQ(contents->last_promotion_id, 8);
  ASSERT_EQ(contents->succeeded_promotions.size(), 1u);
  EXPECT_EQ(contents->succeeded_promotions[0].finished_at, 100);
  ASSERT_EQ(contents->active_promotions.size(), 1u);
  EXPECT_EQ(contents->active_promotions[0].state, RolloutState::kWaiting);
  ASSERT_EQ(contents->deployments.size(), 1u);
  EXPECT_EQ(contents->deployments[0].stable, V("1.2.0"));

  auto listed = store->ListPromotions({"orders", "", std::nullopt, 0, 10});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, 8);  // newest first
  auto only_succeeded = store->ListPromotions({"", "staging", RolloutState::kSucceeded, 0, 10});
  ASSERT_TRUE(only_succeeded.ok());
  ASSERT_EQ(only_succeeded->size(), 1u);
  EXPECT_EQ((*only_succeeded)[0].verdict, R"({"allowed":true})");
  auto paged = store->ListPromotions({"", "", std::nullopt, 8, 10});
  ASSERT_TRUE(paged.ok());
  ASSERT_EQ(paged->size(), 1u);
  EXPECT_EQ((*paged)[0].id, 7);

  auto found = store->GetPromotion(7);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->requested_by, "ci");
  auto missing = store->GetPromotion(99);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(SqliteStoreTest, ApprovalsAreRecordedOncePerApproverAndGate) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->InsertService({"orders", "", 1}, {}).ok());
  ASSERT_TRUE(store->InsertVersion(OrdersVersion("1.2.0"), {}).ok());
  Promotion promotion;
  promotion.id = 3;
  promotion.service = "orders";
  promotion.version = V("1.2.0");
  promotion.environment = "prod";
  promotion.state = RolloutState::kWaiting;
  promotion.requested_by = "ci";
  ASSERT_TRUE(store->InsertPromotion(promotion, std::nullopt, {}).ok());

  Approval approval{3,    -1, "orders", "1.2.0", "prod", "alice", {"release-manager", "viewer"},
                    "ok", 100};
  ASSERT_TRUE(store->InsertApproval(approval, {MakeEvent("rollout.approved", "3")}).ok());
  const int64_t events = Count("events");
  auto again = store->InsertApproval(approval, {MakeEvent("rollout.approved", "3")});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(Count("events"), events);  // nothing written twice
  approval.step = 1;                   // the same approver at another gate counts there
  ASSERT_TRUE(store->InsertApproval(approval, {}).ok());

  auto listed = store->ListApprovals(3);
  ASSERT_TRUE(listed.ok()) << listed.error().message();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].step, -1);
  EXPECT_EQ((*listed)[0].approver, "alice");
  EXPECT_EQ((*listed)[0].roles, (std::vector<std::string>{"release-manager", "viewer"}));
  EXPECT_EQ((*listed)[0].created_at, 100);
  EXPECT_EQ((*listed)[1].step, 1);
  EXPECT_TRUE(store->ListApprovals(4)->empty());
}

}  // namespace
}  // namespace shipd
