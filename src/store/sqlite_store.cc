// SqliteStore: the Store on one SQLite database file in WAL mode. Mutations run on one connection
// (the engine's strand) with cached prepared statements; FindToken and LoadSpec share a read-only
// connection behind a mutex, so any thread may call them. Every SQLiteCpp exception is converted to
// a Result here.
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "migrations.h"
#include "shipd/model/permissions.h"
#include "shipd/model/progress_json.h"
#include "shipd/store/audit_chain.h"
#include "shipd/store/store.h"

namespace shipd {
namespace {

constexpr int kBusyTimeoutMs = 5000;

// Resets a cached statement when leaving scope, so it is ready for its next use even when an
// exception left it mid-step. (Statement::reset would rethrow the step's error.)
class ResetOnExit {
 public:
  explicit ResetOnExit(SQLite::Statement& statement) : statement_(statement) {}
  ~ResetOnExit() { statement_.tryReset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  SQLite::Statement& statement_;
};

void Bind(SQLite::Statement& statement, int index, const std::string& value) {
  statement.bind(index, value);
}
void Bind(SQLite::Statement& statement, int index, int64_t value) { statement.bind(index, value); }
void Bind(SQLite::Statement& statement, int index, int value) { statement.bind(index, value); }
void Bind(SQLite::Statement& statement, int index, const std::optional<int64_t>& value) {
  if (value.has_value()) {
    statement.bind(index, *value);
  } else {
    statement.bind(index);  // NULL
  }
}
void Bind(SQLite::Statement& statement, int index, const std::optional<std::string>& value) {
  if (value.has_value()) {
    statement.bind(index, *value);
  } else {
    statement.bind(index);  // NULL
  }
}

// Binds `args` to ?1, ?2, ... of a cached statement that returns no rows, runs it and resets it.
template <typename... Args>
void Run(SQLite::Statement& statement, const Args&... args) {
  ResetOnExit reset(statement);
  [[maybe_unused]] int index = 0;
  (Bind(statement, ++index, args), ...);
  statement.exec();
}

Error FromSqlite(const SQLite::Exception& e, std::string_view context) {
  ErrorCode code = ErrorCode::kIo;
  std::string hint;
  switch (e.getExtendedErrorCode()) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
      code = ErrorCode::kConflict;
      break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      code = ErrorCode::kNotFound;
      hint = " (a referenced service or version does not exist)";
      break;
    default:
      if (e.getErrorCode() == SQLITE_CONSTRAINT) {
        code = ErrorCode::kInvalid;
      } else if (e.getErrorCode() == SQLITE_BUSY || e.getErrorCode() == SQLITE_LOCKED) {
        code = ErrorCode::kUnavailable;
      } else if (e.getErrorCode() == -1) {  // raised by SQLiteCpp itself: misuse
        code = ErrorCode::kInternal;
      }
  }
  return Error(code, std::string(context) + ": " + e.what() + hint);
}

// Runs `body` (returning Result<T>), converting any exception into an error with `context`.
template <typename Body>
auto Guarded(std::string_view context, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const SQLite::Exception& e) {
    return FromSqlite(e, context);
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal, std::string(context) + ": " + e.what());
  }
}

std::string Join(const std::vector<std::string>& parts, char separator) {
  std::string joined;
  for (const std::string& part : parts) {
    if (!joined.empty()) {
      joined.push_back(separator);
    }
    joined += part;
  }
  return joined;
}

std::optional<std::string> TextOrNull(const std::string& text) {
  if (text.empty()) {
    return std::nullopt;
  }
  return text;
}

std::optional<std::string> TextOrNull(const std::optional<Semver>& version) {
  if (!version.has_value()) {
    return std::nullopt;
  }
  return version->ToString();
}

std::string Lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// A stored value that fails to parse means the file was edited or corrupted, not bad user input.
Error Corrupt(std::string_view what, const Error& parse_error) {
  return Error(ErrorCode::kInternal,
               "stored " + std::string(what) + " is unreadable: " + parse_error.message());
}

// Column values as views into the current row, valid until the next step: no copy.
std::string_view TextAt(const SQLite::Statement& row, int column) {
  SQLite::Column value = row.getColumn(column);
  const char* text = value.getText();
  return {text, static_cast<size_t>(value.getBytes())};
}

int64_t IntAt(const SQLite::Statement& row, int column) { return row.getColumn(column).getInt64(); }

// Parses each distinct text once: parsing dominates a bulk load, and a fleet's contracts repeat
// the same few API versions and ranges. Bounded, so that texts which do not repeat cost little.
template <typename T>
class ParseOnce {
 public:
  Result<T> Get(std::string_view text) {
    if (auto it = parsed_.find(text); it != parsed_.end()) {
      return it->second;
    }
    Result<T> value = T::Parse(text);
    if (value.ok() && parsed_.size() < kMaxEntries) {
      parsed_.emplace(std::string(text), *value);
    }
    return value;
  }

 private:
  static constexpr size_t kMaxEntries = 4096;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>()(text); }
  };
  std::unordered_map<std::string, T, Hash, std::equal_to<>> parsed_;
};

// Finds the version a provides/requires row belongs to. Contract rows are inserted right after
// their version in the same transaction, so in rowid order they follow the versions' order and a
// forward cursor finds each in O(1); a hash index takes over should that order ever not hold.
class VersionFinder {
 public:
  VersionFinder(std::vector<Version>& versions, const std::vector<std::string>& texts)
      : versions_(versions), texts_(texts) {}

  Version* Find(std::string_view service, std::string_view version) {
    if (index_.empty()) {
      for (size_t i = cursor_; i < versions_.size(); ++i) {
        if (texts_[i] == version && versions_[i].service == service) {
          cursor_ = i;
          return &versions_[i];
        }
      }
      index_.reserve(versions_.size());
      for (size_t i = 0; i < versions_.size(); ++i) {
        index_.emplace(Key(versions_[i].service, texts_[i]), i);
      }
    }
    auto it = index_.find(Key(service, version));
    return it == index_.end() ? nullptr : &versions_[it->second];
  }

 private:
  static std::string Key(std::string_view service, std::string_view version) {
    std::string key(service);
    key.push_back('\0');
    key.append(version);
    return key;
  }

  std::vector<Version>& versions_;
  const std::vector<std::string>& texts_;
  size_t cursor_ = 0;
  std::unordered_map<std::string, size_t> index_;  // built on the first out-of-order row
};

class SqliteStore final : public Store {
 public:
  // Takes a connection already configured and migrated. Throws SQLite::Exception.
  SqliteStore(SQLite::Database db, const std::string& path)
      : path_(path),
        db_(std::move(db)),
        insert_event_(db_,
                      "INSERT INTO events (id, time, actor, kind, subject, data, hash) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)"),
        select_chain_tail_(db_, "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1"),
        select_event_sequence_(db_, "SELECT seq FROM sqlite_sequence WHERE name = 'events'"),
        insert_service_(db_, "INSERT INTO services (name, repo, created_at) VALUES (?, ?, ?)"),
        insert_version_(db_,
                        "INSERT INTO versions (service, version, major, minor, patch, prerelease,"
                        " artifact, commit_sha, tag, content_hash, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        insert_provide_(db_,
                        "INSERT INTO provides (service, version, api, api_version, spec)"
                        " VALUES (?, ?, ?, ?, ?)"),
        insert_require_(db_,
                        "INSERT INTO requires (service, version, api, range, optional)"
                        " VALUES (?, ?, ?, ?, ?)"),
        delete_environments_(db_, "DELETE FROM environments"),
        insert_environment_(
            db_, "INSERT INTO environments (name, position, \"after\") VALUES (?, ?, ?)"),
        upsert_deployment_(db_,
                           "INSERT INTO deployments (environment, service, stable_version,"
                           " canary_version, canary_weight, previous_version, updated_at)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?)"
                           " ON CONFLICT (environment, service) DO UPDATE SET"
                           " stable_version = excluded.stable_version,"
                           " canary_version = excluded.canary_version,"
                           " canary_weight = excluded.canary_weight,"
                           " previous_version = excluded.previous_version,"
                           " updated_at = excluded.updated_at"),
        insert_delivery_(db_,
                         "INSERT INTO webhook_deliveries (host, delivery_id, service, received_at)"
                         " VALUES (?, ?, ?, ?)"),
        select_delivery_(db_,
                         "SELECT 1 FROM webhook_deliveries WHERE host = ? AND delivery_id = ?"),
        insert_promotion_(db_,
                          "INSERT INTO promotions (id, service, version, environment, state,"
                          " requested_by, override_reason, verdict, created_at, updated_at,"
                          " finished_at, progress) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        update_promotion_(db_,
                          "UPDATE promotions SET state = ?, updated_at = ?, finished_at = ?,"
                          " progress = ? WHERE id = ?"),
        select_promotion_events_(
            db_,
            "SELECT id, time, actor, kind, subject, data FROM events"
            " WHERE json_extract(data, '$.promotion') = ? ORDER BY id LIMIT ?"),
        select_promotion_(
            db_, "SELECT " + std::string(kPromotionColumns) + " FROM promotions WHERE id = ?"),
        select_events_(db_,
                       "SELECT id, time, actor, kind, subject, data FROM events"
                       " WHERE id > ? ORDER BY id LIMIT ?"),
        insert_token_(db_,
                      "INSERT INTO tokens (sha256, name, role, created_at) VALUES (?, ?, ?, ?)"),
        upsert_hold_(db_,
                     "INSERT INTO holds (environment, service, owner, reason, created_at,"
                     " expires_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (environment, service)"
                     " DO UPDATE SET owner = excluded.owner, reason = excluded.reason,"
                     " created_at = excluded.created_at, expires_at = excluded.expires_at"),
        delete_hold_(db_, "DELETE FROM holds WHERE environment = ? AND service = ?"),
        upsert_train_(db_,
                      "INSERT OR REPLACE INTO trains (name, route, cadence, timezone, cutoff_ms,"
                      " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"),
        upsert_trip_(db_,
                     "INSERT OR REPLACE INTO train_trips (train, number, state, env_index,"
                     " scheduled_at, departed_at, departed_by, arrived_at)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
        delete_cars_(db_, "DELETE FROM train_cars WHERE train = ? AND trip = ?"),
        insert_car_(db_,
                    "INSERT INTO train_cars (train, trip, service, version, position, state,"
                    " env_index, promotion_id, reason, depends_on, boarded_by, boarded_at,"
                    " carried_from, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        read_db_(path, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX, kBusyTimeoutMs),
        select_token_(read_db_,
                      "SELECT name, sha256, role, created_at FROM tokens WHERE sha256 = ?"),
        select_spec_(read_db_,
                     "SELECT spec FROM provides WHERE service = ? AND version = ? AND api = ?") {}

  Result<StoreContents> LoadAll() override {
    return Guarded("loading the store", [&]() -> Result<StoreContents> {
      StoreContents contents;
      // One read transaction: the queries below see one consistent snapshot.
      SQLite::Transaction snapshot(db_, SQLite::TransactionBehavior::DEFERRED);

      SQLite::Statement services(db_, "SELECT name, repo, created_at FROM services ORDER BY name");
      while (services.executeStep()) {
        contents.services.push_back({std::string(TextAt(services, 0)),
                                     std::string(TextAt(services, 1)), IntAt(services, 2)});
      }

      Status loaded = LoadVersions(contents.versions);
      if (!loaded.ok()) {
        return loaded.error();
      }

      SQLite::Statement environments(db_,
                                     "SELECT name, position, \"after\" FROM environments"
                                     " ORDER BY position, name");
      while (environments.executeStep()) {
        contents.environments.push_back({std::string(TextAt(environments, 0)),
                                         static_cast<int>(IntAt(environments, 1)),
                                         std::string(TextAt(environments, 2))});
      }

      SQLite::Statement deployments(db_,
                                    "SELECT environment, service, stable_version, canary_version,"
                                    " canary_weight, updated_at, previous_version FROM deployments"
                                    " ORDER BY environment, service");
      while (deployments.executeStep()) {
        Deployment& d = contents.deployments.emplace_back();
        d.environment = TextAt(deployments, 0);
        d.service = TextAt(deployments, 1);
        for (int column : {2, 3, 6}) {
          if (deployments.isColumnNull(column)) {
            continue;
          }
          Result<Semver> semver = Semver::Parse(TextAt(deployments, column));
          if (!semver.ok()) {
            return Corrupt("deployment of " + d.service + " in " + d.environment, semver.error());
          }
          (column == 2 ? d.stable : column == 3 ? d.canary : d.previous) = std::move(*semver);
        }
        d.canary_weight = static_cast<int>(IntAt(deployments, 4));
        d.updated_at = IntAt(deployments, 5);
      }

      SQLite::Statement succeeded(db_,
                                  "SELECT " + std::string(kPromotionColumns) +
                                      " FROM promotions WHERE state = 'succeeded' ORDER BY id");
      while (succeeded.executeStep()) {
        Result<Promotion> promotion = PromotionAt(succeeded);
        if (!promotion.ok()) return promotion.error();
        promotion->verdict.clear();
        contents.succeeded_promotions.push_back(std::move(*promotion));
      }
      SQLite::Statement active(db_, "SELECT " + std::string(kPromotionColumns) +
                                        " FROM promotions WHERE state NOT IN ('succeeded',"
                                        " 'rolled_back', 'failed', 'aborted') ORDER BY id");
      while (active.executeStep()) {
        Result<Promotion> promotion = PromotionAt(active);
        if (!promotion.ok()) return promotion.error();
        contents.active_promotions.push_back(std::move(*promotion));
      }
      SQLite::Statement holds(db_,
                              "SELECT environment, service, owner, reason, created_at, expires_at"
                              " FROM holds ORDER BY environment, service");
      while (holds.executeStep()) {
        Hold& h = contents.holds.emplace_back();
        h.environment = TextAt(holds, 0);
        h.service = TextAt(holds, 1);
        h.owner = TextAt(holds, 2);
        h.reason = TextAt(holds, 3);
        h.created_at = IntAt(holds, 4);
        if (!holds.isColumnNull(5)) h.expires_at = IntAt(holds, 5);
      }
      if (Status trains = LoadTrains(contents.trains); !trains.ok()) return trains.error();
      contents.last_promotion_id =
          db_.execAndGet("SELECT coalesce(max(id), 0) FROM promotions").getInt64();
      contents.last_event_id = db_.execAndGet("SELECT coalesce(max(id), 0) FROM events").getInt64();
      snapshot.commit();
      return contents;
    });
  }

  Result<std::vector<int64_t>> InsertService(const Service& service,
                                             const std::vector<Event>& events) override {
    return Mutate("inserting service " + service.name, events,
                  [&] { Run(insert_service_, service.name, service.repo, service.created_at); });
  }

  Result<std::vector<int64_t>> InsertVersion(const Version& version,
                                             const std::vector<Event>& events) override {
    const std::string text = version.version.ToString();
    return Mutate("inserting version " + version.service + "@" + text, events, [&] {
      const Semver& v = version.version;
      Run(insert_version_, version.service, text, static_cast<int64_t>(v.major()),
          static_cast<int64_t>(v.minor()), static_cast<int64_t>(v.patch()),
          Join(v.prerelease(), '.'), version.artifact, version.commit, version.tag,
          version.content_hash, version.created_at);
      for (const Provide& p : version.provides) {
        Run(insert_provide_, version.service, text, p.api, p.version.ToString(),
            TextOrNull(p.spec));
      }
      for (const Require& r : version.requires_) {
        Run(insert_require_, version.service, text, r.api, r.range.text(), r.optional ? 1 : 0);
      }
    });
  }

  Result<std::vector<int64_t>> SyncEnvironments(const std::vector<EnvironmentRecord>& environments,
                                                const std::vector<Event>& events) override {
    return Mutate("saving environments", events, [&] {
      Run(delete_environments_);
      for (const EnvironmentRecord& e : environments) {
        Run(insert_environment_, e.name, e.position, TextOrNull(e.after));
      }
    });
  }

  Result<std::vector<int64_t>> UpsertDeployment(const Deployment& deployment,
                                                const std::vector<Event>& events) override {
    return Mutate("saving deployment of " + deployment.service + " in " + deployment.environment,
                  events, [&] { UpsertDeploymentRow(deployment); });
  }

  Result<std::vector<int64_t>> InsertPromotion(const Promotion& p,
                                               const std::optional<Deployment>& deployment,
                                               const std::vector<Event>& events) override {
    const std::string label = p.service + "@" + p.version.ToString() + " into " + p.environment;
    return Mutate("recording promotion of " + label, events, [&] {
      Run(insert_promotion_, p.id, p.service, p.version.ToString(), p.environment,
          std::string(RolloutStateName(p.state)), p.requested_by, p.override_reason,
          p.verdict.empty() ? std::string("{}") : p.verdict, p.created_at, p.updated_at,
          p.finished_at == 0 ? std::optional<int64_t>() : std::optional<int64_t>(p.finished_at),
          ProgressToJson(p.progress).dump());
      if (deployment.has_value()) UpsertDeploymentRow(*deployment);
    });
  }

  Result<std::vector<int64_t>> UpdatePromotion(const Promotion& p,
                                               const std::optional<Deployment>& deployment,
                                               const std::vector<Event>& events) override {
    return Mutate("updating promotion " + std::to_string(p.id), events, [&] {
      Run(update_promotion_, std::string(RolloutStateName(p.state)), p.updated_at,
          p.finished_at == 0 ? std::optional<int64_t>() : std::optional<int64_t>(p.finished_at),
          ProgressToJson(p.progress).dump(), p.id);
      if (db_.getChanges() != 1) {
        throw std::runtime_error("promotion " + std::to_string(p.id) + " does not exist");
      }
      if (deployment.has_value()) UpsertDeploymentRow(*deployment);
    });
  }

  Result<std::vector<Event>> PromotionEvents(int64_t id, int limit) override {
    return Guarded("listing events of promotion " + std::to_string(id),
                   [&]() -> Result<std::vector<Event>> {
                     std::vector<Event> events;
                     ResetOnExit reset(select_promotion_events_);
                     Bind(select_promotion_events_, 1, id);
                     Bind(select_promotion_events_, 2, limit);
                     while (select_promotion_events_.executeStep()) {
                       events.push_back(EventAt(select_promotion_events_));
                     }
                     return events;
                   });
  }

  Result<std::vector<int64_t>> RecordDelivery(const std::string& host,
                                              const std::string& delivery_id,
                                              const std::string& service, TimeMs received_at,
                                              const std::vector<Event>& events) override {
    const std::string context = "recording " + host + " delivery " + delivery_id;
    // All writes come from one thread, so nothing can slip in between this check and the insert.
    auto seen = Guarded(context, [&]() -> Result<bool> {
      ResetOnExit reset(select_delivery_);
      Bind(select_delivery_, 1, host);
      Bind(select_delivery_, 2, delivery_id);
      return select_delivery_.executeStep();
    });
    if (!seen.ok()) return seen.error();
    if (*seen) return Error(ErrorCode::kConflict, context + ": delivered before");
    return Mutate(context, events,
                  [&] { Run(insert_delivery_, host, delivery_id, service, received_at); });
  }

  Result<std::vector<Promotion>> ListPromotions(const PromotionFilter& filter) override {
    return Guarded("listing promotions", [&]() -> Result<std::vector<Promotion>> {
      std::string sql = "SELECT " + std::string(kPromotionColumns) + " FROM promotions WHERE 1";
      if (!filter.service.empty()) sql += " AND service = :service";
      if (!filter.environment.empty()) sql += " AND environment = :environment";
      if (filter.state.has_value()) sql += " AND state = :state";
      if (filter.before_id > 0) sql += " AND id < :before";
      sql += " ORDER BY id DESC LIMIT :limit";
      SQLite::Statement query(db_, sql);
      if (!filter.service.empty()) query.bind(":service", filter.service);
      if (!filter.environment.empty()) query.bind(":environment", filter.environment);
      if (filter.state.has_value()) {
        query.bind(":state", std::string(RolloutStateName(*filter.state)));
      }
      if (filter.before_id > 0) query.bind(":before", filter.before_id);
      query.bind(":limit", filter.limit);
      std::vector<Promotion> promotions;
      while (query.executeStep()) {
        Result<Promotion> promotion = PromotionAt(query);
        if (!promotion.ok()) return promotion.error();
        promotions.push_back(std::move(*promotion));
      }
      return promotions;
    });
  }

  Result<std::optional<Promotion>> GetPromotion(int64_t id) override {
    return Guarded("loading promotion " + std::to_string(id),
                   [&]() -> Result<std::optional<Promotion>> {
                     ResetOnExit reset(select_promotion_);
                     Bind(select_promotion_, 1, id);
                     if (!select_promotion_.executeStep()) return std::optional<Promotion>();
                     Result<Promotion> promotion = PromotionAt(select_promotion_);
                     if (!promotion.ok()) return promotion.error();
                     return std::optional<Promotion>(std::move(*promotion));
                   });
  }

  Result<std::vector<int64_t>> AppendEvents(const std::vector<Event>& events) override {
    return Mutate("appending events", events, [] {});
  }

  Result<std::string> LoadSpec(const std::string& service, const std::string& version,
                               const std::string& api) override {
    // Rows are keyed by canonical text; accept "v1.2.0" and the like too.
    Result<Semver> semver = Semver::Parse(version);
    const std::string text = semver.ok() ? semver->ToString() : version;
    const std::string context = "loading spec of " + api + " from " + service + "@" + text;
    return Guarded(context, [&]() -> Result<std::string> {
      std::lock_guard<std::mutex> lock(read_mu_);
      ResetOnExit reset(select_spec_);
      Bind(select_spec_, 1, service);
      Bind(select_spec_, 2, text);
      Bind(select_spec_, 3, api);
      if (!select_spec_.executeStep()) {
        return Error(ErrorCode::kNotFound, service + "@" + text + " does not provide API " + api);
      }
      return select_spec_.getColumn(0).getString();  // NULL (no spec) reads as ""
    });
  }

  Result<std::vector<Event>> ListEvents(int64_t after, int limit) override {
    if (limit < 0) {
      return Error(ErrorCode::kInvalid, "listing events: negative limit");
    }
    return Guarded("listing events", [&]() -> Result<std::vector<Event>> {
      std::vector<Event> events;
      events.reserve(static_cast<size_t>(std::min(limit, 1000)));
      ResetOnExit reset(select_events_);
      Bind(select_events_, 1, after);
      Bind(select_events_, 2, limit);
      while (select_events_.executeStep()) events.push_back(EventAt(select_events_));
      return events;
    });
  }

  Result<std::vector<int64_t>> PutHold(const Hold& hold,
                                       const std::vector<Event>& events) override {
    return Mutate("setting a hold on " + hold.environment, events, [&] {
      Run(upsert_hold_, hold.environment, hold.service, hold.owner, hold.reason, hold.created_at,
          hold.expires_at);
    });
  }

  Result<std::vector<int64_t>> DeleteHold(const std::string& environment,
                                          const std::string& service,
                                          const std::vector<Event>& events) override {
    const std::string context = "removing the hold on " + environment;
    bool missing = false;
    auto ids = Mutate(context, events, [&] {
      Run(delete_hold_, environment, service);
      missing = db_.getChanges() == 0;
      if (missing) throw std::runtime_error("no such hold");  // rolls the events back
    });
    if (missing) {
      return Error(ErrorCode::kNotFound, service.empty()
                                             ? environment + " has no ad-hoc freeze"
                                             : service + " is not locked in " + environment);
    }
    return ids;
  }

  Result<std::vector<int64_t>> PutTrain(const Train& train, const std::vector<int64_t>& trips,
                                        const std::vector<Event>& events) override {
    return Mutate("saving train " + train.name, events, [&] {
      nlohmann::json route = train.route;
      Run(upsert_train_, train.name, route.dump(), train.cadence, train.timezone,
          static_cast<int64_t>(train.cutoff.count()), train.created_by, train.created_at);
      for (int64_t number : trips) {
        const TrainTrip* trip = train.FindTrip(number);
        if (trip == nullptr) throw std::runtime_error("no trip " + std::to_string(number));
        Run(upsert_trip_, train.name, trip->number, std::string(TripStateName(trip->state)),
            trip->env_index, trip->scheduled_at, trip->departed_at, trip->departed_by,
            trip->arrived_at);
        Run(delete_cars_, train.name, trip->number);
        for (const TrainCar& car : trip->cars) {
          nlohmann::json depends_on = car.depends_on;
          Run(insert_car_, train.name, trip->number, car.service, car.version.ToString(),
              car.position, std::string(CarStateName(car.state)), car.env_index, car.promotion_id,
              car.reason, depends_on.dump(), car.boarded_by, car.boarded_at, car.carried_from,
              car.updated_at);
        }
      }
    });
  }

  Result<std::vector<int64_t>> InsertApproval(const Approval& approval,
                                              const std::vector<Event>& events) override {
    const std::string context = "recording the approval of promotion " +
                                std::to_string(approval.promotion) + " by " + approval.approver;
    bool duplicate = false;
    auto ids = Mutate(context, events, [&] {
      SQLite::Statement seen(db_,
                             "SELECT 1 FROM approvals WHERE promotion = ? AND step = ?"
                             " AND approver = ?");
      Bind(seen, 1, approval.promotion);
      Bind(seen, 2, approval.step);
      Bind(seen, 3, approval.approver);
      duplicate = seen.executeStep();
      if (duplicate) throw std::runtime_error("approved before");  // rolls the events back
      SQLite::Statement insert(db_,
                               "INSERT INTO approvals (promotion, step, service, version,"
                               " environment, approver, roles, reason, created_at)"
                               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
      Run(insert, approval.promotion, approval.step, approval.service, approval.version,
          approval.environment, approval.approver, JoinRoles(approval.roles), approval.reason,
          approval.created_at);
    });
    if (duplicate) return Error(ErrorCode::kConflict, context + ": approved before");
    return ids;
  }

  Result<std::vector<Approval>> ListApprovals(int64_t promotion) override {
    return Guarded("listing approvals", [&]() -> Result<std::vector<Approval>> {
      SQLite::Statement rows(db_,
                             "SELECT promotion, step, service, version, environment, approver,"
                             " roles, reason, created_at FROM approvals WHERE promotion = ?"
                             " ORDER BY created_at, rowid");
      Bind(rows, 1, promotion);
      std::vector<Approval> approvals;
      while (rows.executeStep()) {
        Approval& a = approvals.emplace_back();
        a.promotion = IntAt(rows, 0);
        a.step = static_cast<int>(IntAt(rows, 1));
        a.service = TextAt(rows, 2);
        a.version = TextAt(rows, 3);
        a.environment = TextAt(rows, 4);
        a.approver = TextAt(rows, 5);
        a.roles = SplitRoles(TextAt(rows, 6));
        a.reason = TextAt(rows, 7);
        a.created_at = IntAt(rows, 8);
      }
      return approvals;
    });
  }

  Result<ChainVerification> VerifyChain(const ChainAnchor& anchor) override {
    return Guarded("verifying the audit chain", [&]() -> Result<ChainVerification> {
      SQLite::Database db(path_, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX, kBusyTimeoutMs);
      SQLite::Transaction snapshot(db, SQLite::TransactionBehavior::DEFERRED);
      ChainVerification result;
      const int64_t legacy_through =
          db.execAndGet("SELECT coalesce((SELECT legacy_through FROM audit_chain), 0)").getInt64();
      SQLite::Statement rows(db,
                             "SELECT id, time, actor, kind, subject, data, hash FROM events"
                             " ORDER BY id");
      std::string previous_hash(kChainGenesis);
      int64_t previous_id = legacy_through;
      auto broken = [&](int64_t id, std::string reason) {
        result.ok = false;
        result.first_bad_id = id;
        result.reason = std::move(reason);
        return result;
      };
      Event e;
      while (rows.executeStep()) {
        e.id = IntAt(rows, 0);
        if (e.id <= legacy_through) {
          ++result.legacy;
          continue;
        }
        if (e.id != previous_id + 1) {
          const std::string first = std::to_string(previous_id + 1);
          return broken(e.id, e.id == previous_id + 2
                                  ? "event " + first + " before it is missing"
                                  : "events " + first + ".." + std::to_string(e.id - 1) +
                                        " before it are missing");
        }
        if (rows.isColumnNull(6)) {
          return broken(e.id, "it has no hash (written after the chain began)");
        }
        e.time = IntAt(rows, 1);
        e.actor = TextAt(rows, 2);
        e.kind = TextAt(rows, 3);
        e.subject = TextAt(rows, 4);
        e.data = TextAt(rows, 5);
        std::string_view stored = TextAt(rows, 6);
        if (ChainHash(previous_hash, e) != stored) {
          return broken(e.id,
                        "its hash does not match its contents and the previous hash: the"
                        " event was changed");
        }
        if (e.id == anchor.id && stored != anchor.hash) {
          return broken(e.id, "its hash differs from the exported head " + anchor.hash +
                                  ": the chain was rewritten from this event or before");
        }
        previous_hash = stored;
        previous_id = e.id;
        ++result.checked;
        result.head_id = e.id;
        result.head_hash = previous_hash;
      }
      // The sequence remembers ids handed out; a shorter journal lost its newest events.
      const int64_t sequence =
          db.execAndGet(
                "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)")
              .getInt64();
      if (sequence > previous_id) {
        return broken(previous_id + 1, "the newest events (" + std::to_string(previous_id + 1) +
                                           ".." + std::to_string(sequence) + ") are missing");
      }
      if (anchor.id > previous_id || (anchor.id > 0 && anchor.id <= legacy_through)) {
        return broken(anchor.id, "the exported head, event " + std::to_string(anchor.id) +
                                     ", is not in the chain");
      }
      return result;
    });
  }

  Status InsertToken(const TokenRecord& token, const std::vector<Event>& events) override {
    Result<std::vector<int64_t>> ids = Mutate("inserting token " + token.name, events, [&] {
      Run(insert_token_, Lowercase(token.sha256_hex), token.name, token.role, token.created_at);
    });
    if (!ids.ok()) {
      return ids.error();
    }
    return Ok();
  }

  Result<std::vector<TokenRecord>> ListTokens() override {
    return Guarded("listing tokens", [&]() -> Result<std::vector<TokenRecord>> {
      std::vector<TokenRecord> tokens;
      SQLite::Statement rows(db_,
                             "SELECT name, sha256, role, created_at FROM tokens ORDER BY name");
      while (rows.executeStep()) {
        tokens.push_back({rows.getColumn(0).getString(), rows.getColumn(1).getString(),
                          rows.getColumn(2).getString(), rows.getColumn(3).getInt64()});
      }
      return tokens;
    });
  }

  Result<std::vector<int64_t>> DeleteToken(const std::string& name,
                                           const std::vector<Event>& events) override {
    bool missing = false;
    auto ids = Mutate("revoking token " + name, events, [&] {
      SQLite::Statement remove(db_, "DELETE FROM tokens WHERE name = ?");
      Run(remove, name);
      missing = db_.getChanges() == 0;
      if (missing) throw std::runtime_error("no such token");  // rolls the events back
    });
    if (missing) return Error(ErrorCode::kNotFound, "no token is named \"" + name + "\"");
    return ids;
  }

  Result<std::optional<TokenRecord>> FindToken(const std::string& sha256_hex) override {
    return Guarded("looking up a token", [&]() -> Result<std::optional<TokenRecord>> {
      std::lock_guard<std::mutex> lock(read_mu_);
      ResetOnExit reset(select_token_);
      Bind(select_token_, 1, Lowercase(sha256_hex));
      if (!select_token_.executeStep()) {
        return std::optional<TokenRecord>();
      }
      return std::optional<TokenRecord>(TokenRecord{
          select_token_.getColumn(0).getString(), select_token_.getColumn(1).getString(),
          select_token_.getColumn(2).getString(), select_token_.getColumn(3).getInt64()});
    });
  }

 private:
  static constexpr std::string_view kPromotionColumns =
      "id, service, version, environment, state, requested_by, override_reason, verdict,"
      " created_at, updated_at, coalesce(finished_at, 0), progress";

  static Event EventAt(const SQLite::Statement& row) {
    return {row.getColumn(0).getInt64(),  row.getColumn(1).getInt64(),
            row.getColumn(2).getString(), row.getColumn(3).getString(),
            row.getColumn(4).getString(), row.getColumn(5).getString()};
  }

  static Result<Promotion> PromotionAt(const SQLite::Statement& row) {
    Promotion p;
    p.id = IntAt(row, 0);
    p.service = TextAt(row, 1);
    Result<Semver> version = Semver::Parse(TextAt(row, 2));
    if (!version.ok())
      return Corrupt("version of promotion " + std::to_string(p.id), version.error());
    p.version = std::move(*version);
    p.environment = TextAt(row, 3);
    auto state = ParseRolloutState(TextAt(row, 4));
    if (!state.has_value()) {
      return Error(ErrorCode::kInternal, "stored promotion " + std::to_string(p.id) +
                                             " has unknown state " + std::string(TextAt(row, 4)));
    }
    p.state = *state;
    p.requested_by = TextAt(row, 5);
    p.override_reason = TextAt(row, 6);
    p.verdict = TextAt(row, 7);
    p.created_at = IntAt(row, 8);
    p.updated_at = IntAt(row, 9);
    p.finished_at = IntAt(row, 10);
    auto progress =
        ProgressFromJson(nlohmann::json::parse(std::string(TextAt(row, 11)), nullptr, false));
    if (!progress.ok()) {
      return Corrupt("progress of promotion " + std::to_string(p.id), progress.error());
    }
    p.progress = std::move(*progress);
    return p;
  }

  void UpsertDeploymentRow(const Deployment& deployment) {
    Run(upsert_deployment_, deployment.environment, deployment.service,
        TextOrNull(deployment.stable), TextOrNull(deployment.canary), deployment.canary_weight,
        TextOrNull(deployment.previous), deployment.updated_at);
  }

  // Versions with their contracts (specs left out), in registration order: three queries in all,
  // however many versions there are.
  Status LoadTrains(std::vector<Train>& trains) {
    auto strings = [](std::string_view text) {
      std::vector<std::string> out;
      auto parsed = nlohmann::json::parse(text, nullptr, false);
      if (parsed.is_array()) {
        for (const auto& item : parsed) {
          if (item.is_string()) out.push_back(item.get<std::string>());
        }
      }
      return out;
    };
    auto optional_int = [](SQLite::Statement& row, int column) {
      return row.isColumnNull(column) ? std::optional<int64_t>() : IntAt(row, column);
    };
    SQLite::Statement rows(db_,
                           "SELECT name, route, cadence, timezone, cutoff_ms, created_by,"
                           " created_at FROM trains ORDER BY name");
    std::map<std::string, size_t, std::less<>> by_name;
    while (rows.executeStep()) {
      Train& t = trains.emplace_back();
      t.name = TextAt(rows, 0);
      t.route = strings(TextAt(rows, 1));
      t.cadence = TextAt(rows, 2);
      t.timezone = TextAt(rows, 3);
      t.cutoff = std::chrono::milliseconds(IntAt(rows, 4));
      t.created_by = TextAt(rows, 5);
      t.created_at = IntAt(rows, 6);
      by_name.emplace(t.name, trains.size() - 1);
    }
    SQLite::Statement trips(db_,
                            "SELECT train, number, state, env_index, scheduled_at, departed_at,"
                            " departed_by, arrived_at FROM train_trips ORDER BY train, number");
    while (trips.executeStep()) {
      auto owner = by_name.find(TextAt(trips, 0));
      if (owner == by_name.end()) continue;
      TrainTrip& trip = trains[owner->second].trips.emplace_back();
      trip.number = IntAt(trips, 1);
      auto state = ParseTripState(TextAt(trips, 2));
      if (!state) {
        return Error(ErrorCode::kInternal,
                     "stored trip state \"" + std::string(TextAt(trips, 2)) + "\" is unknown");
      }
      trip.state = *state;
      trip.env_index = static_cast<int>(IntAt(trips, 3));
      trip.scheduled_at = optional_int(trips, 4);
      trip.departed_at = optional_int(trips, 5);
      trip.departed_by = TextAt(trips, 6);
      trip.arrived_at = optional_int(trips, 7);
    }
    SQLite::Statement cars(db_,
                           "SELECT train, trip, service, version, position, state, env_index,"
                           " promotion_id, reason, depends_on, boarded_by, boarded_at,"
                           " carried_from, updated_at FROM train_cars"
                           " ORDER BY train, trip, position");
    while (cars.executeStep()) {
      auto owner = by_name.find(TextAt(cars, 0));
      if (owner == by_name.end()) continue;
      TrainTrip* trip = trains[owner->second].FindTrip(IntAt(cars, 1));
      if (trip == nullptr) continue;
      TrainCar& car = trip->cars.emplace_back();
      car.service = TextAt(cars, 2);
      Result<Semver> version = Semver::Parse(TextAt(cars, 3));
      if (!version.ok()) return Corrupt("version of train car " + car.service, version.error());
      car.version = std::move(*version);
      car.position = static_cast<int>(IntAt(cars, 4));
      auto state = ParseCarState(TextAt(cars, 5));
      if (!state) {
        return Error(ErrorCode::kInternal,
                     "stored car state \"" + std::string(TextAt(cars, 5)) + "\" is unknown");
      }
      car.state = *state;
      car.env_index = static_cast<int>(IntAt(cars, 6));
      car.promotion_id = IntAt(cars, 7);
      car.reason = TextAt(cars, 8);
      car.depends_on = strings(TextAt(cars, 9));
      car.boarded_by = TextAt(cars, 10);
      car.boarded_at = IntAt(cars, 11);
      car.carried_from = IntAt(cars, 12);
      car.updated_at = IntAt(cars, 13);
    }
    return Ok();
  }

  Status LoadVersions(std::vector<Version>& versions) {
    SQLite::Statement count(db_, "SELECT count(*) FROM versions");
    count.executeStep();
    const auto total = static_cast<size_t>(IntAt(count, 0));
    versions.reserve(total);
    std::vector<std::string> texts;  // as stored, parallel to `versions`
    texts.reserve(total);

    SQLite::Statement rows(db_,
                           "SELECT service, version, artifact, commit_sha, tag, content_hash,"
                           " created_at FROM versions ORDER BY rowid");
    while (rows.executeStep()) {
      Version& v = versions.emplace_back();
      v.service = TextAt(rows, 0);
      std::string_view text = TextAt(rows, 1);
      Result<Semver> semver = Semver::Parse(text);
      if (!semver.ok()) {
        return Corrupt("version of " + v.service, semver.error());
      }
      v.version = std::move(*semver);
      texts.emplace_back(text);
      v.artifact = TextAt(rows, 2);
      v.commit = TextAt(rows, 3);
      v.tag = TextAt(rows, 4);
      v.content_hash = TextAt(rows, 5);
      v.created_at = IntAt(rows, 6);
    }

    SQLite::Statement provides(db_,
                               "SELECT service, version, api, api_version FROM provides"
                               " ORDER BY rowid");
    VersionFinder provider(versions, texts);
    ParseOnce<Semver> api_versions;
    while (provides.executeStep()) {
      Version* v = provider.Find(TextAt(provides, 0), TextAt(provides, 1));
      if (v == nullptr) {
        continue;  // impossible with foreign keys on
      }
      Provide& p = v->provides.emplace_back();
      p.api = TextAt(provides, 2);
      Result<Semver> api_version = api_versions.Get(TextAt(provides, 3));
      if (!api_version.ok()) {
        return Corrupt("version of API " + p.api + " provided by " + v->service,
                       api_version.error());
      }
      p.version = std::move(*api_version);
    }

    SQLite::Statement requirements(db_,
                                   "SELECT service, version, api, range, optional FROM requires"
                                   " ORDER BY rowid");
    VersionFinder consumer(versions, texts);
    ParseOnce<Range> ranges;
    while (requirements.executeStep()) {
      Version* v = consumer.Find(TextAt(requirements, 0), TextAt(requirements, 1));
      if (v == nullptr) {
        continue;
      }
      Require& r = v->requires_.emplace_back();
      r.api = TextAt(requirements, 2);
      Result<Range> range = ranges.Get(TextAt(requirements, 3));
      if (!range.ok()) {
        return Corrupt("range on API " + r.api + " required by " + v->service, range.error());
      }
      r.range = std::move(*range);
      r.optional = IntAt(requirements, 4) != 0;
    }
    return Ok();
  }

  // One write transaction: `rows` inserts the rows, then the events; returns the event ids.
  template <typename Rows>
  Result<std::vector<int64_t>> Mutate(const std::string& context, const std::vector<Event>& events,
                                      Rows&& rows) {
    return Guarded(context, [&]() -> Result<std::vector<int64_t>> {
      SQLite::Transaction transaction(db_, SQLite::TransactionBehavior::IMMEDIATE);
      rows();
      std::vector<int64_t> ids;
      ids.reserve(events.size());
      if (!events.empty()) {
        // Read inside the write transaction: `shipd token create` may have appended meanwhile.
        auto [last_id, previous_hash] = ChainTail();
        for (const Event& e : events) {
          Event stored = e;
          stored.id = ++last_id;
          if (stored.data.empty()) stored.data = "{}";
          std::string hash = ChainHash(previous_hash, stored);
          Run(insert_event_, stored.id, stored.time, stored.actor, stored.kind, stored.subject,
              stored.data, hash);
          ids.push_back(stored.id);
          previous_hash = std::move(hash);
        }
      }
      transaction.commit();
      return ids;
    });
  }

  // The id after which the next event goes (never reused, as AUTOINCREMENT promises) and the
  // hash it links to: the genesis when the newest event predates the chain.
  std::pair<int64_t, std::string> ChainTail() {
    int64_t last_id = 0;
    std::string hash(kChainGenesis);
    {
      ResetOnExit reset(select_chain_tail_);
      if (select_chain_tail_.executeStep()) {
        last_id = IntAt(select_chain_tail_, 0);
        if (!select_chain_tail_.isColumnNull(1)) hash = TextAt(select_chain_tail_, 1);
      }
    }
    ResetOnExit reset(select_event_sequence_);
    if (select_event_sequence_.executeStep()) {
      last_id = std::max(last_id, IntAt(select_event_sequence_, 0));
    }
    return {last_id, std::move(hash)};
  }

  const std::string path_;
  SQLite::Database db_;  // the engine's connection: all writes
  SQLite::Statement insert_event_;
  SQLite::Statement select_chain_tail_;
  SQLite::Statement select_event_sequence_;
  SQLite::Statement insert_service_;
  SQLite::Statement insert_version_;
  SQLite::Statement insert_provide_;
  SQLite::Statement insert_require_;
  SQLite::Statement delete_environments_;
  SQLite::Statement insert_environment_;
  SQLite::Statement upsert_deployment_;
  SQLite::Statement insert_delivery_;
  SQLite::Statement select_delivery_;
  SQLite::Statement insert_promotion_;
  SQLite::Statement update_promotion_;
  SQLite::Statement select_promotion_events_;
  SQLite::Statement select_promotion_;
  SQLite::Statement select_events_;
  SQLite::Statement insert_token_;
  SQLite::Statement upsert_hold_;
  SQLite::Statement delete_hold_;
  SQLite::Statement upsert_train_;
  SQLite::Statement upsert_trip_;
  SQLite::Statement delete_cars_;
  SQLite::Statement insert_car_;

  // Reads that any thread may make (tokens on every request, specs for the gate's differ).
  std::mutex read_mu_;  // guards read_db_ and its statements
  SQLite::Database read_db_;
  SQLite::Statement select_token_;
  SQLite::Statement select_spec_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  if (options.path.empty()) {
    return Error(ErrorCode::kInvalid, "opening the store: no database path given");
  }
  const std::string context = "opening database " + options.path;
  std::optional<std::vector<EmbeddedMigration>> from_directory;
  if (!options.migrations.empty()) {
    Result<std::vector<EmbeddedMigration>> read = ReadMigrationDirectory(options.migrations);
    if (!read.ok()) {
      return read.error().WithContext(context);
    }
    from_directory = std::move(*read);
  }
  try {
    // NOMUTEX: each connection is used by one thread at a time (the strand; read_mu_).
    SQLite::Database db(options.path,
                        SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX,
                        kBusyTimeoutMs);
    const std::string journal_mode = db.execAndGet("PRAGMA journal_mode = WAL").getString();
    if (journal_mode != "wal") {
      return Error(
          ErrorCode::kIo,
          context + ": cannot use write-ahead logging (journal mode stays '" + journal_mode + "')");
    }
    db.exec("PRAGMA synchronous = FULL");
    Status migrated = from_directory ? ApplyMigrations(db, *from_directory) : ApplyMigrations(db);
    if (!migrated.ok()) {
      return migrated.error().WithContext(context);
    }
    db.exec("PRAGMA foreign_keys = ON");
    return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(db), options.path));
  } catch (const SQLite::Exception& e) {
    return FromSqlite(e, context);
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal, context + ": " + e.what());
  }
}

}  // namespace shipd
