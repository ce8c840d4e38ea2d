// The journal's hash chain: the encoding (pinned, since stored hashes depend on it) and what
// SqliteStore::VerifyChain finds in a database tampered with from outside the store.
#include "shipd/store/audit_chain.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shipd/common/sha256.h"
#include "shipd/store/store.h"

#ifndef SHIPD_SOURCE_DIR
#error "SHIPD_SOURCE_DIR must name the source tree (for migrations/)"
#endif

namespace shipd {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

Event At(int64_t id, const std::string& kind) {
  return Event{id,   1700000000000 + id, "tester",
               kind, "orders",           R"({"n":)" + std::to_string(id) + "}"};
}

TEST(ChainHashTest, HashesNetstringsOfPreviousHashAndColumns) {
  const Event event{7, 1700000000123, "ci", "service.registered", "orders", R"({"repo":""})"};
  const std::string expected = Sha256Hex(std::string("64:") + std::string(kChainGenesis) +
                                         ",1:7,13:1700000000123,2:ci,18:service.registered,"
                                         "6:orders,11:{\"repo\":\"\"},");
  EXPECT_EQ(ChainHash(kChainGenesis, event), expected);
}

TEST(ChainHashTest, FieldBoundariesCannotShift) {
  Event a = At(1, "x");
  Event b = a;
  a.actor = "ab";
  a.kind = "c";
  b.actor = "a";
  b.kind = "bc";
  EXPECT_NE(ChainHash(kChainGenesis, a), ChainHash(kChainGenesis, b));
}

class AuditChainStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "shipd-audit-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    db_path_ = (dir_ / "shipd.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Store> Open(const std::string& migrations = "") {
    Result<std::unique_ptr<Store>> store = OpenSqliteStore(SqliteOptions{db_path_, migrations});
    EXPECT_TRUE(store.ok()) << store.error().message();
    return store.ok() ? std::move(*store) : nullptr;
  }

  static void Append(Store& store, int count) {
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(store.AppendEvents({At(0, "test.appended")}).ok());
    }
  }

  static ChainVerification Verify(Store& store, const ChainAnchor& anchor = {}) {
    Result<ChainVerification> verified = store.VerifyChain(anchor);
    EXPECT_TRUE(verified.ok()) << verified.error().message();
    return verified.ok() ? *verified : ChainVerification{};
  }

  // Tampers the way someone with the file and sqlite3 could: the triggers go first.
  void Tamper(const std::string& sql) {
    SQLite::Database raw(db_path_, SQLite::OPEN_READWRITE);
    raw.exec("DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;");
    raw.exec(sql);
  }

  std::string HashOf(int64_t id) {
    SQLite::Database raw(db_path_, SQLite::OPEN_READONLY);
    return raw.execAndGet("SELECT hash FROM events WHERE id = " + std::to_string(id)).getString();
  }

  fs::path dir_;
  std::string db_path_;
};

TEST_F(AuditChainStoreTest, EmptyJournalVerifies) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ChainVerification v = Verify(*store);
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.checked, 0);
  EXPECT_EQ(v.first_bad_id, 0);
}

TEST_F(AuditChainStoreTest, ChainContinuesAcrossReopen) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    Append(*store, 3);
    ASSERT_TRUE(store->AppendEvents({At(0, "a"), At(0, "b")}).ok());  // one transaction
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Append(*store, 2);
  ChainVerification v = Verify(*store);
  EXPECT_TRUE(v.ok) << v.reason;
  EXPECT_EQ(v.checked, 7);
  EXPECT_EQ(v.head_id, 7);
  EXPECT_EQ(v.head_hash, HashOf(7));

  Result<std::vector<Event>> events = store->ListEvents(0, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 7u);
  EXPECT_EQ(HashOf(1), ChainHash(kChainGenesis, (*events)[0]));
  EXPECT_EQ(HashOf(6), ChainHash(HashOf(5), (*events)[5]));  // links across the reopen
}

TEST_F(AuditChainStoreTest, TwoWritersOnOneFileKeepOneChain) {
  // `shipd token create` writes while the daemon runs: neither may fork the chain.
  auto daemon = Open();
  auto cli = Open();
  ASSERT_NE(daemon, nullptr);
  ASSERT_NE(cli, nullptr);
  Append(*daemon, 2);
  Append(*cli, 1);
  Append(*daemon, 2);
  ChainVerification v = Verify(*daemon);
  EXPECT_TRUE(v.ok) << v.reason;
  EXPECT_EQ(v.checked, 5);
}

TEST_F(AuditChainStoreTest, DetectsAChangedRowAtItsId) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Append(*store, 5);
  Tamper(R"(UPDATE events SET data = '{"n":999}' WHERE id = 3)");
  ChainVerification v = Verify(*store);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_id, 3);
  EXPECT_THAT(v.reason, HasSubstr("changed"));
  EXPECT_EQ(v.checked, 2);
}

TEST_F(AuditChainStoreTest, DetectsAChangedRowWhoseOwnHashWasRecomputed) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Append(*store, 5);
  Result<std::vector<Event>> events = store->ListEvents(2, 1);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  Event forged = events->front();
  forged.actor = "someone-else";
  Tamper("UPDATE events SET actor = 'someone-else', hash = '" + ChainHash(HashOf(2), forged) +
         "' WHERE id = 3");
  ChainVerification v = Verify(*store);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_id, 4);  // the next link no longer matches
}

TEST_F(AuditChainStoreTest, AnExportedHeadCatchesAChainRewrittenConsistently) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Append(*store, 4);
  const ChainAnchor head{4, HashOf(4)};
  EXPECT_TRUE(Verify(*store, head).ok);

  // Change event 2 and recompute every hash after it, as someone with the file could.
  Result<std::vector<Event>> events = store->ListEvents(0, 10);
  ASSERT_TRUE(events.ok());
  (*events)[1].actor = "someone-else";
  std::string previous(kChainGenesis);
  std::string sql = "UPDATE events SET actor = 'someone-else' WHERE id = 2;";
  for (const Event& e : *events) {
    previous = ChainHash(previous, e);
    sql += "UPDATE events SET hash = '" + previous + "' WHERE id = " + std::to_string(e.id) + ";";
  }
  Tamper(sql);

  EXPECT_TRUE(Verify(*store).ok);  // consistent, so the chain alone cannot tell
  ChainVerification v = Verify(*store, head);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_id, 4);
  EXPECT_THAT(v.reason, HasSubstr("exported head"));

  v = Verify(*store, ChainAnchor{9, head.hash});  // a head the journal no longer reaches
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_id, 9);
  EXPECT_THAT(v.reason, HasSubstr("not in the chain"));
}

TEST_F(AuditChainStoreTest, DetectsADeletedRow) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Append(*store, 5);
  Tamper("DELETE FROM events WHERE id = 3");
  ChainVerification v = Verify(*store);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_id, 4);
  EXPECT_THAT(v.reason, HasSubstr("event 3 before it is missing"));
}

TEST_F(AuditChainStoreTest, DetectsDeletedNewestRows) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Append(*store, 5);
  Tamper("DELETE FROM events WHERE id >= 4");
  ChainVerification v = Verify(*store);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_id, 4);
  EXPECT_THAT(v.reason, HasSubstr("newest events (4..5) are missing"));
}

TEST_F(AuditChainStoreTest, DetectsAnEventWrittenWithoutAHash) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Append(*store, 2);
  Tamper("INSERT INTO events (time, actor, kind, subject) VALUES (1, 'x', 'y', 'z')");
  ChainVerification v = Verify(*store);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_id, 3);
  EXPECT_THAT(v.reason, HasSubstr("no hash"));
}

TEST_F(AuditChainStoreTest, EventsFromBeforeTheChainAreLegacyAndTheChainStartsAfterThem) {
  // A database at schema 0004 with events written by an older shipd.
  const fs::path old_migrations = dir_ / "migrations-0004";
  fs::create_directories(old_migrations);
  for (const auto& entry : fs::directory_iterator(fs::path(SHIPD_SOURCE_DIR) / "migrations")) {
    const std::string name = entry.path().filename().string();
    if (name < "0005") fs::copy_file(entry.path(), old_migrations / name);
  }
  // This binary's store cannot run on schema 0004, but the migrations it applied stay: the file
  // is then what an older shipd left behind.
  ASSERT_FALSE(OpenSqliteStore(SqliteOptions{db_path_, old_migrations.string()}).ok());
  {
    SQLite::Database raw(db_path_, SQLite::OPEN_READONLY);
    ASSERT_EQ(raw.execAndGet("SELECT max(version) FROM schema_migrations").getInt64(), 4);
  }
  {
    SQLite::Database raw(db_path_, SQLite::OPEN_READWRITE);
    raw.exec(
        "INSERT INTO events (time, actor, kind, subject) VALUES (1, 'old', 'k', 's'),"
        " (2, 'old', 'k', 's')");
  }
  auto store = Open();  // applies 0005
  ASSERT_NE(store, nullptr);
  Append(*store, 3);
  ChainVerification v = Verify(*store);
  EXPECT_TRUE(v.ok) << v.reason;
  EXPECT_EQ(v.legacy, 2);
  EXPECT_EQ(v.checked, 3);
  Result<std::vector<Event>> events = store->ListEvents(2, 1);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(HashOf(3), ChainHash(kChainGenesis, events->front()));

  Tamper("DELETE FROM events WHERE id = 3");  // the first chained event
  v = Verify(*store);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_id, 4);
}

}  // namespace
}  // namespace shipd
