// Crash safety of the rollout engine (docs/rollouts.md#crash-safety): shipd is killed with
// SIGKILL while rollouts are in flight and started again on the same data directory. Every rollout
// must then finish as its checks dictate, and the driver must never have been asked to do
// anything twice except re-applying, after the restart, the operation it was in.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "integration/fixture.h"
#include "support/loopback_server.h"

namespace shipd::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr char kRestartMark[] = "restart";
const std::set<std::string> kTerminal = {"rollout.succeeded", "rollout.rolled_back",
                                         "rollout.failed", "rollout.aborted"};

// What the driver must have been asked to do for one rollout, once each operation that was
// re-applied after the restart is counted once.
const std::vector<std::string> kPromoted = {"deploy 0", "weight 10", "weight 50", "promote 100"};
const std::vector<std::string> kRolledBack = {"deploy 0", "weight 10", "rollback 0"};

// Returns how many it replaced.
int ReplaceAll(std::string& text, const std::string& from, const std::string& to) {
  int count = 0;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
    ++count;
  }
  return count;
}

class CrashTest : public DaemonTest {
 protected:
  void SetUp() override {
    std::ifstream in(SourceDir() / "tests" / "data" / "pipelines" / "crash.yaml");
    std::stringstream text;
    text << in.rdbuf();
    pipelines_ = text.str();
    ReplaceAll(pipelines_, "@HEALTH@", health_.Origin());
    ReplaceAll(pipelines_, "@DRIVER@", (SourceDir() / "tests/data/drivers/record.sh").string());
    ReplaceAll(pipelines_, "@RECORD@", record_.string());
    std::ofstream(dir_.path() / "crash.yaml") << pipelines_;
    daemon_.set_pipelines(dir_.path() / "crash.yaml");
    DaemonTest::SetUp();
  }

  // A service with versions 1.0.0 and 2.0.0.
  void Register(const std::string& service) {
    ASSERT_EQ(Post("/v1/services", {{"name", service}}).first, 201);
    for (const std::string version : {"1.0.0", "2.0.0"}) {
      ASSERT_EQ(Post("/v1/services/" + service + "/versions",
                     {{"version", version}, {"artifact", "example.com/" + service + ":" + version}})
                    .first,
                201);
    }
  }

  int64_t Promote(const std::string& service, const std::string& version,
                  const std::string& environment) {
    auto [status, body] =
        Post("/v1/promotions",
             {{"service", service}, {"version", version}, {"environment", environment}});
    EXPECT_EQ(status, 201) << body.dump();
    return status == 201 ? body["id"].get<int64_t>() : -1;
  }

  // SIGKILL, then a start on the same data directory (with `pipelines` when given). In between,
  // the driver operations that the killed daemon left running are waited for (record.sh holds a
  // shared lock on record_.running while it runs), and a line "restart" goes into the record, so
  // that the record shows which operations the new daemon asked for.
  void KillAndRestart(const std::string& pipelines = "") {
    ASSERT_EQ(daemon_.Stop(SIGKILL), 128 + SIGKILL);
    if (!pipelines.empty()) {
      std::ofstream(dir_.path() / "edited.yaml") << pipelines;
      daemon_.set_pipelines(dir_.path() / "edited.yaml");
    }
    const int running = open((record_.string() + ".running").c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_GE(running, 0);
    flock(running, LOCK_EX);
    std::ofstream(record_, std::ios::app) << kRestartMark << "\n";
    close(running);
    ASSERT_TRUE(daemon_.Start()) << daemon_.last_error();
  }

  // Reads the journal on (long-polling, never sleeping) until `done()` holds; false when it did
  // not within `within`.
  bool ReadJournalUntil(const std::function<bool()>& done, seconds within = seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      auto [status, page] =
          Get("/v1/events?limit=1000&wait_ms=2000&after=" + std::to_string(journal_after_));
      if (status != 200) return false;
      for (const auto& event : page["events"]) journal_.push_back(event);
      journal_after_ = page["next_after"].get<int64_t>();
    }
    return true;
  }

  // The events of rollout `id` read so far; only those of `kind` when given.
  std::vector<json> Events(int64_t id, const std::string& kind = "") const {
    std::vector<json> events;
    for (const auto& event : journal_) {
      if (event["data"].is_object() && event["data"].value("promotion", int64_t{0}) == id &&
          (kind.empty() || event["kind"] == kind)) {
        events.push_back(event);
      }
    }
    return events;
  }
  std::vector<json> EventsOfKind(const std::string& kind) const {
    std::vector<json> events;
    for (const auto& event : journal_) {
      if (event["kind"] == kind) events.push_back(event);
    }
    return events;
  }
  // The terminal event of rollout `id`, or null.
  json Finished(int64_t id) const {
    for (const auto& event : Events(id)) {
      if (kTerminal.contains(event["kind"].get<std::string>())) return event;
    }
    return nullptr;
  }
  bool AllFinished(const std::vector<int64_t>& ids) const {
    return std::all_of(ids.begin(), ids.end(), [&](int64_t id) { return !Finished(id).is_null(); });
  }
  // Whether rollout `id` began step `step` (or a later one) or finished.
  bool ReachedStep(int64_t id, int step) const {
    for (const auto& event : Events(id, "rollout.step")) {
      if (event["data"]["step"].get<int>() >= step) return true;
    }
    return !Finished(id).is_null();
  }

  // The record of the driver for `service`@`version`: "ACTION WEIGHT" per operation, and
  // "restart" where the daemon was killed and started again.
  std::vector<std::string> Record(const std::string& service, const std::string& version) const {
    std::ifstream in(record_);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
      if (line == kRestartMark) {
        lines.push_back(line);
        continue;
      }
      std::istringstream words(line);
      std::string action, line_service, line_version, weight;
      words >> action >> line_service >> line_version >> weight;
      if (line_service == service && line_version == version)
        lines.push_back(action + " " + weight);
    }
    return lines;
  }

  LoopbackServer health_{[](httplib::Server& server) {
    server.Get(R"(/health/([^/]+)/([^/]+))", [](const httplib::Request& req,
                                                httplib::Response& res) {
      const bool bad = req.matches[1].str().starts_with("bad-") && req.matches[2].str() == "2.0.0";
      res.status = bad ? 500 : 200;
      res.set_content(bad ? "bad version" : "ok", "text/plain");
    });
  }};
  std::filesystem::path record_ = dir_.path() / "driver.record";
  std::string pipelines_;  // crash.yaml as the daemon got it
  std::vector<json> journal_;
  int64_t journal_after_ = 0;
};

// What the driver was asked to do for one rollout, each operation repeated right after the
// restart counted once; `repeated` gets how many were, `repeated_before_restart` how many of those
// came before it (which would be a bug: nothing repeats without a crash).
std::vector<std::string> Collapse(const std::vector<std::string>& record, int* repeated,
                                  int* repeated_before_restart) {
  std::vector<std::string> operations;
  std::string applied_weight;
  bool restarted = false;
  for (const auto& line : record) {
    if (line == kRestartMark) {
      restarted = true;
      continue;
    }
    const std::string action = line.substr(0, line.find(' '));
    const std::string weight = line.substr(line.find(' ') + 1);
    // Re-applying the weight already applied, as Deploy does after a restart, changes nothing.
    const bool same_weight = (action == "deploy" || action == "weight") && !operations.empty() &&
                             weight == applied_weight;
    if (same_weight || (!operations.empty() && operations.back() == line)) {
      ++*repeated;
      if (!restarted) ++*repeated_before_restart;
      continue;
    }
    operations.push_back(line);
    if (action == "deploy" || action == "weight") applied_weight = weight;
  }
  return operations;
}

TEST_F(CrashTest, TwentyRolloutsInVariousStepsAllFinishAfterKillNine) {
  constexpr int kServices = 20;
  std::vector<std::string> services;
  for (int i = 0; i < kServices; ++i) {
    services.push_back((i % 2 == 0 ? "good-" : "bad-") + std::string(i < 10 ? "0" : "") +
                       std::to_string(i));
    ASSERT_NO_FATAL_FAILURE(Register(services.back()));
  }
  // Every service gets a stable version first, through the same strategy.
  std::vector<int64_t> firsts;
  for (const auto& service : services) firsts.push_back(Promote(service, "1.0.0", "prod"));
  ASSERT_TRUE(ReadJournalUntil([&] { return AllFinished(firsts); }));
  for (int64_t id : firsts) ASSERT_EQ(Finished(id)["kind"], "rollout.succeeded") << id;

  // Then the 2.0.0 rollouts, in four waves of five, each started when the one before has moved
  // on, so that the kill finds them in different steps: the first wave in its pause (step 3), the
  // second analysing (step 1), the third at weight 10 (step 0), the fourth deploying.
  std::map<int64_t, std::string> rollouts;  // id -> service
  std::vector<std::vector<int64_t>> waves(4);
  const int wave_steps[] = {3, 1, 0};
  for (size_t wave = 0; wave < waves.size(); ++wave) {
    for (size_t i = wave * 5; i < wave * 5 + 5; ++i) {
      const int64_t id = Promote(services[i], "2.0.0", "prod");
      ASSERT_GT(id, 0);
      rollouts[id] = services[i];
      waves[wave].push_back(id);
    }
    if (wave == waves.size() - 1) break;
    ASSERT_TRUE(ReadJournalUntil([&] {
      return std::all_of(waves[wave].begin(), waves[wave].end(),
                         [&](int64_t id) { return ReachedStep(id, wave_steps[wave]); });
    })) << "wave "
        << wave << " did not reach step " << wave_steps[wave];
  }
  KillAndRestart();

  std::vector<int64_t> ids;
  for (const auto& [id, service] : rollouts) ids.push_back(id);
  ASSERT_TRUE(ReadJournalUntil([&] { return AllFinished(ids); }, seconds(90)))
      << "not every rollout finished after the restart";

  // Nothing lost, nothing stuck: the 40 promotions are all finished, as their checks dictate.
  auto [status, list] = Get("/v1/promotions?environment=prod&limit=100");
  ASSERT_EQ(status, 200);
  ASSERT_EQ(list["promotions"].size(), 2u * kServices);
  for (const auto& p : list["promotions"]) {
    const bool bad = p["service"].get<std::string>().starts_with("bad-") && p["version"] == "2.0.0";
    EXPECT_EQ(p["state"], bad ? "rolled_back" : "succeeded") << p.dump();
    EXPECT_TRUE(p["finished_at"].is_number()) << p.dump();
  }
  for (const std::string state : {"queued", "waiting", "progressing", "paused", "failed"}) {
    EXPECT_EQ(Get("/v1/promotions?state=" + state).second["promotions"].size(), 0u) << state;
  }
  auto [env_status, prod] = Get("/v1/environments/prod");
  ASSERT_EQ(env_status, 200);
  ASSERT_EQ(prod["live"].size(), static_cast<size_t>(kServices));
  for (const auto& live : prod["live"]) {
    const bool bad = live["service"].get<std::string>().starts_with("bad-");
    EXPECT_EQ(live["stable"], bad ? "1.0.0" : "2.0.0") << live.dump();
    EXPECT_TRUE(live["canary"].is_null()) << live.dump();
    EXPECT_EQ(live["canary_weight"], 0) << live.dump();
  }

  // The journal shows the restart, and every rollout that was not finished then was resumed.
  const auto started = EventsOfKind("engine.started");
  ASSERT_EQ(started.size(), 2u);
  const int64_t restart_id = started.back()["id"].get<int64_t>();
  int unfinished = 0;
  std::map<std::string, int> resumed_in;  // "phase step" -> rollouts
  for (int64_t id : ids) {
    const auto resumed = Events(id, "rollout.resumed");
    if (Finished(id)["id"].get<int64_t>() < restart_id) {
      EXPECT_TRUE(resumed.empty()) << rollouts[id] << " finished before the kill";
      continue;
    }
    ++unfinished;
    ASSERT_EQ(resumed.size(), 1u) << rollouts[id];
    EXPECT_GT(resumed[0]["id"].get<int64_t>(), restart_id);
    EXPECT_EQ(resumed[0]["data"]["restart"], true);
    ++resumed_in[resumed[0]["data"]["phase"].get<std::string>() + " " +
                 std::to_string(resumed[0]["data"]["step"].get<int>())];
  }
  EXPECT_EQ(started.back()["data"]["resumed"], unfinished);
  EXPECT_GE(unfinished, 10);  // the last two waves cannot have finished
  std::string phases;
  for (const auto& [phase, count] : resumed_in)
    phases += phase + ": " + std::to_string(count) + "; ";
  EXPECT_GE(resumed_in.size(), 2u) << "the kill found every rollout in the same step: " << phases;
  std::cout << "rollouts resumed by phase and step: " << phases << "\n";

  // The driver: per rollout, the operations of its strategy in order, each at most once except
  // the one re-applied after the restart; never a promotion of a bad version, never a rollback
  // after a promotion.
  for (const auto& [id, service] : rollouts) {
    for (const std::string version : {"1.0.0", "2.0.0"}) {
      const bool bad = service.starts_with("bad-") && version == "2.0.0";
      const auto record = Record(service, version);
      int repeated = 0, repeated_before_restart = 0;
      EXPECT_EQ(Collapse(record, &repeated, &repeated_before_restart),
                bad ? kRolledBack : kPromoted)
          << service << "@" << version << ": " << json(record).dump();
      EXPECT_EQ(repeated_before_restart, 0) << service << "@" << version;
      if (version == "2.0.0" && Finished(id)["id"].get<int64_t>() < restart_id) {
        EXPECT_EQ(repeated, 0) << service << " finished before the kill";
      }
    }
  }
}

TEST_F(CrashTest, TimedPauseContinuesWithTheTimeItHadLeft) {
  ASSERT_NO_FATAL_FAILURE(Register("paused"));
  const int64_t id = Promote("paused", "1.0.0", "hold");
  ASSERT_TRUE(ReadJournalUntil([&] { return ReachedStep(id, 1); }));
  const json pause = Events(id, "rollout.step").back();
  ASSERT_EQ(pause["data"]["type"], "pause");
  ASSERT_EQ(pause["data"]["duration_ms"], 2000);
  KillAndRestart();
  ASSERT_TRUE(ReadJournalUntil([&] { return !Finished(id).is_null(); }));

  EXPECT_EQ(Finished(id)["kind"], "rollout.succeeded");
  const auto resumed = Events(id, "rollout.resumed");
  ASSERT_EQ(resumed.size(), 1u);
  const json& data = resumed[0]["data"];
  EXPECT_EQ(data["restart"], true);
  EXPECT_EQ(data["phase"], "pause");
  // The pause ends when it would have without the crash: what is left counts from its start.
  const int64_t remaining = data["remaining_ms"].get<int64_t>();
  EXPECT_GE(remaining, 0);
  EXPECT_LT(remaining, 2000);
  const int64_t ends = pause["time"].get<int64_t>() + 2000;
  EXPECT_NEAR(static_cast<double>(resumed[0]["time"].get<int64_t>() + remaining),
              static_cast<double>(ends), 250.0);
  const auto promoting = Events(id, "rollout.promoting");
  ASSERT_EQ(promoting.size(), 1u);
  EXPECT_GE(promoting[0]["time"].get<int64_t>(), ends - 250);
  // The weight is applied again after the restart; the promotion happens once.
  EXPECT_EQ(Record("paused", "1.0.0"), (std::vector<std::string>{"deploy 0", "weight 10", "restart",
                                                                 "deploy 10", "promote 100"}));
}

TEST_F(CrashTest, RolloutWaitingBehindAnotherStartsWhenItFinishesAfterTheRestart) {
  ASSERT_NO_FATAL_FAILURE(Register("queued"));
  const int64_t first = Promote("queued", "1.0.0", "hold");
  const int64_t second = Promote("queued", "2.0.0", "hold");
  ASSERT_TRUE(ReadJournalUntil([&] { return ReachedStep(first, 1); }));
  ASSERT_EQ(Events(second, "rollout.waiting").size(), 1u);
  KillAndRestart();
  ASSERT_TRUE(ReadJournalUntil([&] { return AllFinished({first, second}); }));

  EXPECT_EQ(Finished(first)["kind"], "rollout.succeeded");
  EXPECT_EQ(Finished(second)["kind"], "rollout.succeeded");
  EXPECT_EQ(EventsOfKind("engine.started").back()["data"]["resumed"], 2);
  EXPECT_EQ(Events(first, "rollout.resumed").size(), 1u);
  EXPECT_TRUE(Events(second, "rollout.resumed").empty());  // it waited, and waits on
  const auto started = Events(second, "rollout.started");
  ASSERT_EQ(started.size(), 1u);
  EXPECT_GT(started[0]["id"].get<int64_t>(), Finished(first)["id"].get<int64_t>());
  auto [status, hold] = Get("/v1/environments/hold");
  ASSERT_EQ(status, 200);
  ASSERT_EQ(hold["live"].size(), 1u);
  EXPECT_EQ(hold["live"][0]["stable"], "2.0.0");
  EXPECT_TRUE(hold["live"][0]["canary"].is_null());
  EXPECT_EQ(Record("queued", "1.0.0"), (std::vector<std::string>{"deploy 0", "weight 10", "restart",
                                                                 "deploy 10", "promote 100"}));
  EXPECT_EQ(Record("queued", "2.0.0"),
            (std::vector<std::string>{"restart", "deploy 0", "weight 10", "promote 100"}));
}

TEST_F(CrashTest, RolloutsInAnEnvironmentRemovedFromThePipelinesFailAtTheRestart) {
  ASSERT_NO_FATAL_FAILURE(Register("moved"));
  const int64_t running = Promote("moved", "1.0.0", "hold");
  const int64_t waiting = Promote("moved", "2.0.0", "hold");
  ASSERT_TRUE(ReadJournalUntil([&] { return ReachedStep(running, 1); }));
  std::string without_hold = pipelines_;
  ASSERT_EQ(ReplaceAll(without_hold, "  - { name: hold, driver: record, strategy: hold }\n", ""),
            1);
  ASSERT_NO_FATAL_FAILURE(KillAndRestart(without_hold));
  ASSERT_TRUE(ReadJournalUntil([&] { return AllFinished({running, waiting}); }));

  // Nothing can drive them any more: they fail (for a person to look at what was deployed there),
  // the daemon serves on, and no driver was asked for anything after the restart.
  for (const int64_t id : {running, waiting}) {
    const json finished = Finished(id);
    EXPECT_EQ(finished["kind"], "rollout.failed");
    EXPECT_NE(finished["data"]["reason"].get<std::string>().find("\"hold\""), std::string::npos)
        << finished.dump();
  }
  EXPECT_EQ(EventsOfKind("engine.started").back()["data"]["resumed"], 0);
  EXPECT_EQ(Record("moved", "1.0.0"),
            (std::vector<std::string>{"deploy 0", "weight 10", "restart"}));
  EXPECT_EQ(Record("moved", "2.0.0"), (std::vector<std::string>{"restart"}));
  EXPECT_EQ(Get("/healthz").first, 200);
}

TEST_F(CrashTest, AnalysisWhoseStepWasReplacedRollsBackAtTheRestart) {
  ASSERT_NO_FATAL_FAILURE(Register("edited"));
  const int64_t id = Promote("edited", "1.0.0", "edited");
  ASSERT_TRUE(ReadJournalUntil([&] { return ReachedStep(id, 1); }));
  std::string edited = pipelines_;
  ASSERT_EQ(ReplaceAll(edited, "- analyze: { checks: [health], duration: 1m }", "- pause: 1m"), 1);
  ASSERT_NO_FATAL_FAILURE(KillAndRestart(edited));
  ASSERT_TRUE(ReadJournalUntil([&] { return !Finished(id).is_null(); }));

  const json finished = Finished(id);
  EXPECT_EQ(finished["kind"], "rollout.rolled_back");
  EXPECT_NE(finished["data"]["reason"].get<std::string>().find("no longer"), std::string::npos)
      << finished.dump();
  EXPECT_EQ(Record("edited", "1.0.0"), (std::vector<std::string>{"deploy 0", "weight 10", "restart",
                                                                 "deploy 10", "rollback 0"}));
  EXPECT_EQ(Get("/healthz").first, 200);
}

TEST_F(CrashTest, RolloutWaitingAcrossARestartFollowsTheStrategyItsEnvironmentHasThen) {
  ASSERT_NO_FATAL_FAILURE(Register("renamed"));
  const int64_t running = Promote("renamed", "1.0.0", "hold");
  const int64_t waiting = Promote("renamed", "2.0.0", "hold");
  ASSERT_TRUE(ReadJournalUntil([&] { return ReachedStep(running, 1); }));
  std::string renamed = pipelines_;
  ASSERT_EQ(ReplaceAll(renamed, "strategy: hold }", "strategy: held }"), 1);
  ASSERT_EQ(ReplaceAll(renamed, "  hold:\n", "  held:\n"), 1);
  ASSERT_NO_FATAL_FAILURE(KillAndRestart(renamed));
  ASSERT_TRUE(ReadJournalUntil([&] { return AllFinished({running, waiting}); }));

  // The running one's strategy is gone: it is rolled back. The waiting one had not started: it
  // goes through the canary steps of the environment's strategy now, not straight to 100 %.
  EXPECT_EQ(Finished(running)["kind"], "rollout.rolled_back");
  EXPECT_EQ(Finished(waiting)["kind"], "rollout.succeeded");
  const auto started = Events(waiting, "rollout.started");
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0]["data"]["strategy"], "held");
  EXPECT_EQ(Record("renamed", "2.0.0"),
            (std::vector<std::string>{"restart", "deploy 0", "weight 10", "promote 100"}));
}

}  // namespace
}  // namespace shipd::testing
