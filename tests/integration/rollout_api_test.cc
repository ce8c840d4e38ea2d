// Rollouts through the real daemon: operator actions (approve, resume, abort, rollback) with their
// permissions and status codes, progress and step history, the Server-Sent Events stream, the
// environments' URLs, and shipctl promote --wait / rollout. Pipelines:
// tests/data/pipelines/rollouts/rollouts.yaml. Tests wait with the journal's long-poll.
#include <csignal>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "integration/fixture.h"

namespace shipd::testing {
namespace {

using nlohmann::json;

const std::set<std::string> kTerminalKinds = {"rollout.succeeded", "rollout.rolled_back",
                                              "rollout.failed", "rollout.aborted"};

// Collects Server-Sent Events from chunks as they arrive (a chunk may hold part of an event or
// several events).
struct SseReader {
  std::string buffer;
  std::vector<std::string> comments;
  std::vector<json> events;  // {"id", "event", "data"}

  void Feed(const char* data, size_t size) {
    buffer.append(data, size);
    size_t end;
    while ((end = buffer.find("\n\n")) != std::string::npos) {
      const std::string block = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      json event = json::object();
      size_t start = 0;
      while (start <= block.size()) {
        size_t newline = block.find('\n', start);
        if (newline == std::string::npos) newline = block.size();
        const std::string line = block.substr(start, newline - start);
        start = newline + 1;
        if (line.starts_with(": ")) {
          comments.push_back(line.substr(2));
        } else if (line.starts_with("id: ")) {
          event["id"] = std::stoll(line.substr(4));
        } else if (line.starts_with("event: ")) {
          event["event"] = line.substr(7);
        } else if (line.starts_with("data: ")) {
          event["data"] = json::parse(line.substr(6));
        }
      }
      if (!event.empty()) events.push_back(std::move(event));
    }
  }
};

// GET of an event stream on its own thread, until `keep_going` returns false for what was read
// so far, the stream ends, or the reader is destroyed (which disconnects it).
class StreamThread {
 public:
  StreamThread(const DaemonProcess& daemon, const std::string& token, const std::string& path,
               httplib::Headers headers, std::function<bool(const SseReader&)> keep_going)
      : client_(daemon.Client(token)) {
    thread_ = std::thread([this, path, headers, keep_going] {
      auto result = client_->Get(path, headers, [&](const char* data, size_t size) {
        reader_.Feed(data, size);
        if (!reader_.comments.empty() && !opened_) {
          opened_ = true;
          open_.set_value();
        }
        return keep_going(reader_);
      });
      done_.set_value(std::move(result));
    });
  }
  ~StreamThread() {
    client_->stop();
    thread_.join();
  }

  // Until the stream's opening comment arrived; false after 30 s.
  bool WaitOpen() {
    return open_future_.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  }
  // Until the GET returned; nullopt after 60 s.
  std::optional<httplib::Result> Wait() {
    if (done_future_.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      return std::nullopt;
    }
    return done_future_.get();
  }
  // Read only after Wait() returned a result.
  const SseReader& reader() const { return reader_; }

 private:
  std::unique_ptr<httplib::Client> client_;
  SseReader reader_;
  bool opened_ = false;
  std::promise<void> open_;
  std::future<void> open_future_ = open_.get_future();
  std::promise<httplib::Result> done_;
  std::future<httplib::Result> done_future_ = done_.get_future();
  std::thread thread_;
};

bool UntilTerminal(const SseReader& reader) {
  return reader.events.empty() || kTerminalKinds.count(reader.events.back()["event"]) == 0;
}

class RolloutApiTest : public DaemonTest {
 protected:
  RolloutApiTest()
      : DaemonTest(SourceDir() / "tests" / "data" / "pipelines" / "rollouts" / "rollouts.yaml") {}

  void SetUp() override {
    DaemonTest::SetUp();
    ASSERT_EQ(Post("/v1/services", {{"name", "billing"}}).first, 201);
    for (const char* version : {"1.0.0", "1.1.0"}) {
      auto [status, body] =
          Post("/v1/services/billing/versions",
               {{"version", version}, {"provides", {{{"api", "billing"}, {"version", version}}}}});
      ASSERT_EQ(status, 201) << body.dump();
    }
  }

  // Promotes billing@VERSION into ENV with the deployer's token; returns the promotion id.
  int64_t Promote(const std::string& env, const std::string& version = "1.0.0") {
    auto [status, body] =
        Post("/v1/promotions", {{"service", "billing"}, {"version", version}, {"environment", env}},
             deployer_);
    EXPECT_EQ(status, 201) << body.dump();
    return status == 201 ? body["id"].get<int64_t>() : 0;
  }

  // Long-polls the journal until promotion `id` records an event of one of `kinds`.
  json WaitForEvent(int64_t id, const std::set<std::string>& kinds,
                    std::chrono::seconds within = std::chrono::seconds(60)) {
    int64_t after = 0;
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      auto [status, page] =
          Get("/v1/events?limit=1000&wait_ms=5000&after=" + std::to_string(after), viewer_);
      if (status != 200) {
        ADD_FAILURE() << "GET /v1/events: " << status << " " << page.dump();
        return nullptr;
      }
      for (const auto& event : page["events"]) {
        if (kinds.count(event["kind"]) != 0 && event["data"].is_object() &&
            event["data"].value("promotion", int64_t{0}) == id) {
          return event;
        }
      }
      after = page["next_after"];
    }
    std::string names;
    for (const auto& kind : kinds) names += kind + " ";
    ADD_FAILURE() << "promotion " << id << " recorded none of: " << names
                  << "\nits history: " << Get("/v1/promotions/" + std::to_string(id)).second.dump();
    return nullptr;
  }
  json WaitForEvent(int64_t id, const std::string& kind) {
    return WaitForEvent(id, std::set<std::string>{kind});
  }

  json Promotion(int64_t id) {
    auto [status, body] = Get("/v1/promotions/" + std::to_string(id), viewer_);
    EXPECT_EQ(status, 200) << body.dump();
    return body;
  }

  std::pair<int, json> Act(int64_t id, const std::string& action, const std::string& token,
                           const json& body = json::object()) {
    return Post("/v1/promotions/" + std::to_string(id) + "/" + action, body, token);
  }

  static std::vector<std::string> Kinds(const json& events) {
    std::vector<std::string> kinds;
    for (const auto& event : events) kinds.push_back(event["kind"]);
    return kinds;
  }

  static bool Contains(const std::vector<std::string>& kinds, const std::string& kind) {
    return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
  }

  int64_t LastEventId() {
    auto [status, body] = Get("/readyz");
    EXPECT_EQ(status, 200);
    return body["last_event_id"];
  }

  CommandResult Ctl(const std::vector<std::string>& args, const std::string& token = "") {
    return daemon_.Shipctl(args, token.empty() ? deployer_ : token);
  }
};

TEST_F(RolloutApiTest, DeployerApprovesAGatedRolloutAndItSucceeds) {
  const int64_t id = Promote("gated");
  ASSERT_NE(WaitForEvent(id, "rollout.approval_needed"), nullptr);
  json waiting = Promotion(id);
  EXPECT_EQ(waiting["state"], "waiting") << waiting.dump();
  EXPECT_EQ(waiting["progress"]["phase"], "approve");
  EXPECT_EQ(waiting["progress"]["weight"], 10);

  auto [forbidden, denial] = Act(id, "approve", viewer_);
  EXPECT_EQ(forbidden, 403) << denial.dump();
  EXPECT_NE(denial["error"]["message"].get<std::string>().find("approve:gated"), std::string::npos)
      << denial.dump();
  EXPECT_EQ(Promotion(id)["state"], "waiting");

  auto [status, approved] = Act(id, "approve", deployer_, {{"reason", "dashboards look fine"}});
  ASSERT_EQ(status, 200) << approved.dump();
  EXPECT_EQ(approved["id"], id);
  EXPECT_TRUE(approved.contains("progress"));

  ASSERT_NE(WaitForEvent(id, kTerminalKinds), nullptr);
  json done = Promotion(id);
  EXPECT_EQ(done["state"], "succeeded") << done.dump();
  EXPECT_EQ(done["progress"]["weight"], 100);
  json approval;
  for (const auto& event : done["events"]) {
    if (event["kind"] == "rollout.approved") approval = event;
  }
  ASSERT_TRUE(approval.is_object()) << done["events"].dump();
  EXPECT_EQ(approval["actor"], "ci");
  EXPECT_EQ(approval["data"]["reason"], "dashboards look fine");

  auto [env_status, env] = Get("/v1/environments/gated", viewer_);
  ASSERT_EQ(env_status, 200);
  ASSERT_EQ(env["live"].size(), 1u) << env.dump();
  EXPECT_EQ(env["live"][0]["stable"], "1.0.0");
}

// The strategy of the brief: approve is the last step, so approving it must promote.
TEST_F(RolloutApiTest, ApprovingTheLastStepPromotes) {
  const int64_t id = Promote("gated-last");
  ASSERT_NE(WaitForEvent(id, "rollout.approval_needed"), nullptr);
  ASSERT_EQ(Act(id, "approve", deployer_).first, 200);
  json event = WaitForEvent(id, kTerminalKinds, std::chrono::seconds(15));
  ASSERT_NE(event, nullptr) << "approved at its last step, the rollout never finished";
  EXPECT_EQ(event["kind"], "rollout.succeeded");
}

TEST_F(RolloutApiTest, ResumeContinuesAPausedRollout) {
  const int64_t id = Promote("hold");
  ASSERT_NE(WaitForEvent(id, "rollout.paused"), nullptr);
  json paused = Promotion(id);
  EXPECT_EQ(paused["state"], "paused") << paused.dump();
  EXPECT_EQ(paused["progress"]["phase"], "pause");
  EXPECT_EQ(paused["progress"]["step"], 1);
  EXPECT_EQ(paused["progress"]["steps"], 2);
  EXPECT_EQ(paused["progress"]["weight"], 10);

  EXPECT_EQ(Act(id, "resume", viewer_).first, 403);
  auto [status, resumed] = Act(id, "resume", deployer_);
  ASSERT_EQ(status, 200) << resumed.dump();
  ASSERT_NE(WaitForEvent(id, kTerminalKinds), nullptr);
  EXPECT_EQ(Promotion(id)["state"], "succeeded");
}

TEST_F(RolloutApiTest, AbortEndsItAndASecondAbortConflicts) {
  const int64_t id = Promote("hold");
  ASSERT_NE(WaitForEvent(id, "rollout.paused"), nullptr);
  auto [status, aborted] = Act(id, "abort", deployer_, {{"reason", "wrong build"}});
  ASSERT_EQ(status, 200) << aborted.dump();
  json event = WaitForEvent(id, kTerminalKinds);
  ASSERT_NE(event, nullptr);
  EXPECT_EQ(event["kind"], "rollout.aborted");
  EXPECT_NE(event["data"]["reason"].get<std::string>().find("wrong build"), std::string::npos)
      << event.dump();
  json done = Promotion(id);
  EXPECT_EQ(done["state"], "aborted");
  EXPECT_TRUE(done["finished_at"].is_number());
  // The operator is the actor of the action's own event; the driver's removal of the canary
  // finishes it.
  bool by_operator = false;
  for (const auto& e : done["events"]) {
    if (e["kind"] == "rollout.rolling_back" && e["actor"] == "ci") by_operator = true;
  }
  EXPECT_TRUE(by_operator) << done["events"].dump();

  auto [again, conflict] = Act(id, "abort", deployer_);
  EXPECT_EQ(again, 409) << conflict.dump();
  EXPECT_EQ(conflict["error"]["code"], "conflict");

  // The canary is gone; nothing was stable before, so nothing is live.
  auto [env_status, env] = Get("/v1/environments/hold", viewer_);
  ASSERT_EQ(env_status, 200);
  for (const auto& deployment : env["live"]) {
    EXPECT_TRUE(deployment["canary"].is_null()) << env.dump();
  }
}

TEST_F(RolloutApiTest, RollbackOfAnInFlightRolloutRollsItBack) {
  const int64_t id = Promote("gated");
  ASSERT_NE(WaitForEvent(id, "rollout.approval_needed"), nullptr);
  auto [status, body] = Act(id, "rollback", admin_, {{"reason", "latency"}});
  ASSERT_EQ(status, 200) << body.dump();
  json event = WaitForEvent(id, kTerminalKinds);
  ASSERT_NE(event, nullptr);
  EXPECT_EQ(event["kind"], "rollout.rolled_back") << event.dump();
  EXPECT_EQ(Promotion(id)["state"], "rolled_back");
  EXPECT_EQ(Act(id, "approve", deployer_).first, 409);
}

TEST_F(RolloutApiTest, UnknownBadAndInapplicable) {
  EXPECT_EQ(Get("/v1/promotions/999").first, 404);
  auto [unknown, missing] = Act(999, "approve", deployer_);
  EXPECT_EQ(unknown, 404) << missing.dump();
  EXPECT_NE(missing["error"]["message"].get<std::string>().find("999"), std::string::npos);
  EXPECT_EQ(Post("/v1/promotions/abc/abort", json::object()).first, 400);
  EXPECT_EQ(Post("/v1/promotions/0/abort", json::object()).first, 400);
  EXPECT_EQ(Post("/v1/promotions/99999999999999999999999/abort", json::object()).first, 400);
  EXPECT_EQ(Get("/v1/promotions/abc").first, 400);
  EXPECT_EQ(Post("/v1/promotions/1/frobnicate", json::object()).first, 404);
  EXPECT_EQ(Post("/v1/promotions/1/approve", json::object(), "not-a-token").first, 401);

  const int64_t id = Promote("smooth");
  ASSERT_NE(WaitForEvent(id, kTerminalKinds), nullptr);
  ASSERT_EQ(Promotion(id)["state"], "succeeded");
  const std::string path = "/v1/promotions/" + std::to_string(id);
  EXPECT_EQ(PostRaw(path + "/abort", "{not json", "application/json", deployer_).first, 400);
  EXPECT_EQ(PostRaw(path + "/abort", "[1]", "application/json", deployer_).first, 400);
  EXPECT_EQ(Act(id, "abort", deployer_, {{"reason", 5}}).first, 422);
  EXPECT_EQ(Act(id, "abort", deployer_, {{"why", "x"}}).first, 422);
  for (const char* action : {"approve", "resume", "abort"}) {
    auto [status, body] = Act(id, action, deployer_);
    EXPECT_EQ(status, 409) << action << ": " << body.dump();
  }
  // An empty body is fine too (no reason).
  EXPECT_EQ(PostRaw(path + "/resume", "", "application/json", deployer_).first, 409);
}

TEST_F(RolloutApiTest, PromotionShowsProgressAndItsHistory) {
  const int64_t id = Promote("smooth");
  ASSERT_NE(WaitForEvent(id, kTerminalKinds), nullptr);
  json promotion = Promotion(id);
  EXPECT_EQ(promotion["state"], "succeeded") << promotion.dump();
  ASSERT_TRUE(promotion["progress"].is_object());
  EXPECT_EQ(promotion["progress"]["strategy"], "smooth");
  EXPECT_EQ(promotion["progress"]["steps"], 3);

  const auto kinds = Kinds(promotion["events"]);
  ASSERT_FALSE(kinds.empty());
  EXPECT_EQ(kinds.front(), "rollout.created");
  EXPECT_EQ(kinds.back(), "rollout.succeeded");
  for (const char* kind : {"rollout.started", "rollout.step", "rollout.weight_set",
                           "rollout.analysis_passed", "rollout.promoting"}) {
    EXPECT_TRUE(Contains(kinds, kind)) << kind << " missing from " << promotion["events"].dump();
  }
  int64_t previous = 0;
  for (const auto& event : promotion["events"]) {
    EXPECT_GT(event["id"].get<int64_t>(), previous);
    previous = event["id"];
    EXPECT_EQ(event["data"]["promotion"], id) << event.dump();
  }

  auto [status, list] = Get("/v1/promotions?environment=smooth", viewer_);
  ASSERT_EQ(status, 200);
  ASSERT_EQ(list["promotions"].size(), 1u);
  EXPECT_TRUE(list["promotions"][0]["progress"].is_object());
  EXPECT_FALSE(list["promotions"][0].contains("events"));
}

TEST_F(RolloutApiTest, EnvironmentsShowTheDriversUrls) {
  const int64_t id = Promote("smooth");
  ASSERT_NE(WaitForEvent(id, kTerminalKinds), nullptr);
  auto [status, env] = Get("/v1/environments/smooth", viewer_);
  ASSERT_EQ(status, 200);
  ASSERT_EQ(env["live"].size(), 1u) << env.dump();
  EXPECT_EQ(env["live"][0]["urls"]["stable_url"], "http://stable.test/billing") << env.dump();
  EXPECT_EQ(env["live"][0]["urls"]["canary_url"], "http://canary.test/billing") << env.dump();
  auto [list_status, list] = Get("/v1/environments", viewer_);
  ASSERT_EQ(list_status, 200);
  for (const auto& e : list["environments"]) {
    if (e["name"] == "smooth") {
      EXPECT_EQ(e["live"][0]["urls"], env["live"][0]["urls"]);
    }
  }
}

TEST_F(RolloutApiTest, StreamDeliversTheRolloutsEventsInOrder) {
  const int64_t start = LastEventId();
  const int64_t id = Promote("gated");
  StreamThread stream(
      daemon_, viewer_,
      "/v1/events/stream?after=" + std::to_string(start) + "&promotion=" + std::to_string(id), {},
      UntilTerminal);
  ASSERT_NE(WaitForEvent(id, "rollout.approval_needed"), nullptr);
  ASSERT_EQ(Act(id, "approve", deployer_).first, 200);
  auto result = stream.Wait();
  ASSERT_TRUE(result.has_value()) << "the stream did not deliver the end of the rollout";
  // The receiver stopped the transfer after the terminal event.
  EXPECT_EQ(result->error(), httplib::Error::Canceled);

  const auto& events = stream.reader().events;
  ASSERT_FALSE(events.empty());
  std::vector<std::string> kinds;
  int64_t previous = start;
  for (const auto& event : events) {
    EXPECT_GT(event["id"].get<int64_t>(), previous) << event.dump();
    previous = event["id"];
    EXPECT_EQ(event["event"], event["data"]["kind"]);
    EXPECT_EQ(event["data"]["id"], event["id"]);
    EXPECT_EQ(event["data"]["data"]["promotion"], id) << event.dump();
    kinds.push_back(event["event"]);
  }
  EXPECT_EQ(kinds.front(), "rollout.created");
  EXPECT_EQ(kinds.back(), "rollout.succeeded");
  for (const char* kind : {"rollout.step", "rollout.weight_set", "rollout.approval_needed",
                           "rollout.approved", "rollout.promoting"}) {
    EXPECT_TRUE(Contains(kinds, kind)) << kind;
  }
  // The stream and the promotion's history agree.
  EXPECT_EQ(kinds, Kinds(Promotion(id)["events"]));
}

TEST_F(RolloutApiTest, StreamResumesAfterLastEventIdAndFiltersByKind) {
  const int64_t id = Promote("smooth");
  ASSERT_NE(WaitForEvent(id, kTerminalKinds), nullptr);
  const json history = Promotion(id)["events"];
  ASSERT_GE(history.size(), 3u);
  const int64_t resume_from = history[1]["id"];

  StreamThread stream(daemon_, viewer_,
                      "/v1/events/stream?after=0&kind=rollout.&promotion=" + std::to_string(id),
                      {{"Last-Event-ID", std::to_string(resume_from)}}, UntilTerminal);
  ASSERT_TRUE(stream.Wait().has_value());
  const auto& events = stream.reader().events;
  ASSERT_FALSE(events.empty());
  EXPECT_GT(events.front()["id"].get<int64_t>(), resume_from);
  for (const auto& event : events) {
    EXPECT_TRUE(event["event"].get<std::string>().starts_with("rollout.")) << event.dump();
  }
  EXPECT_EQ(events.back()["event"], "rollout.succeeded");
}

TEST_F(RolloutApiTest, StreamStartsWithNewEventsByDefault) {
  StreamThread stream(daemon_, viewer_, "/v1/events/stream?kind=service.", {},
                      [](const SseReader& reader) { return reader.events.empty(); });
  // Events recorded before the stream opened (tokens, environments) are not replayed.
  ASSERT_TRUE(stream.WaitOpen());
  ASSERT_EQ(Post("/v1/services", {{"name", "orders"}}).first, 201);
  ASSERT_TRUE(stream.Wait().has_value());
  const auto& events = stream.reader().events;
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["event"], "service.registered");
  EXPECT_EQ(events[0]["data"]["subject"], "orders");
}

TEST_F(RolloutApiTest, StreamNeedsReadAndValidParameters) {
  auto client = daemon_.Client();
  auto anonymous = client->Get("/v1/events/stream");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(Get("/v1/events/stream?after=x", viewer_).first, 400);
  EXPECT_EQ(Get("/v1/events/stream?promotion=0", viewer_).first, 400);
}

TEST_F(RolloutApiTest, OpenStreamsAreCappedSoOtherRequestsStillGetAThread) {
  // A daemon with 4 HTTP threads serves at most one stream at a time.
  const auto config = dir_.path() / "small.yaml";
  std::ofstream(config) << "http_threads: 4\n";
  DaemonProcess small(dir_.path() / "small",
                      SourceDir() / "tests" / "data" / "pipelines" / "rollouts" / "rollouts.yaml");
  const std::string token = small.CreateToken("dashboard", "viewer");
  ASSERT_TRUE(small.Start({"--config", config.string()})) << small.last_error();

  StreamThread first(small, token, "/v1/events/stream", {}, [](const SseReader&) { return true; });
  ASSERT_TRUE(first.WaitOpen());
  auto client = small.Client(token);
  auto second = client->Get("/v1/events/stream");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 503);
  EXPECT_NE(second->body.find("too many open event streams"), std::string::npos) << second->body;
  auto other = client->Get("/v1/services");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
}

TEST_F(RolloutApiTest, StreamEndsCleanlyWhenTheDaemonStops) {
  StreamThread stream(daemon_, viewer_, "/v1/events/stream", {},
                      [](const SseReader&) { return true; });
  ASSERT_TRUE(stream.WaitOpen());
  EXPECT_EQ(daemon_.Stop(SIGTERM), 0);
  auto result = stream.Wait();
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(*result) << httplib::to_string(result->error());
  EXPECT_EQ((*result)->status, 200);
  EXPECT_EQ((*result)->get_header_value("Content-Type"), "text/event-stream");
}

TEST_F(RolloutApiTest, ShipctlPromoteWaitSucceedsAndPrintsTheSteps) {
  auto result = Ctl({"promote", "billing@1.0.0", "--to", "smooth", "--wait", "--timeout", "1m"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  for (const char* text :
       {"step 1/3: weight 10%", "weight set: 10%", "analysis passed", "passes", "succeeded"}) {
    EXPECT_NE(result.out.find(text), std::string::npos) << text << " in\n" << result.out;
  }
}

TEST_F(RolloutApiTest, ShipctlPromoteWaitExits1WhenRolledBack) {
  auto result = Ctl({"promote", "billing@1.0.0", "--to", "broken", "--wait"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  // The failing check with its measured value, then the rollback and why.
  EXPECT_NE(result.out.find("fails: 1 measured, 1 failed, last 1"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("rolling back: check fails failed"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("rolled back: check fails failed"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("rolled_back"), std::string::npos) << result.out;
}

TEST_F(RolloutApiTest, ShipctlPromoteWaitExits2OnTimeout) {
  auto result = Ctl({"promote", "billing@1.0.0", "--to", "hold", "--wait", "--timeout", "1s"});
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_NE(result.out.find("timed out after 1s"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("shipctl rollout get 1"), std::string::npos) << result.out;

  // -o json: the promotion as it stands, the note on stderr.
  auto json_result =
      Ctl({"-o", "json", "promote", "billing@1.0.0", "--to", "gated", "--wait", "--timeout", "1s"});
  EXPECT_EQ(json_result.exit_code, 2) << json_result.out << json_result.err;
  json promotion = json::parse(json_result.out, nullptr, false);
  ASSERT_TRUE(promotion.is_object()) << json_result.out;
  EXPECT_EQ(promotion["environment"], "gated");
  EXPECT_TRUE(promotion["finished_at"].is_null()) << json_result.out;  // waiting, or on its way
  EXPECT_NE(json_result.err.find("timed out"), std::string::npos) << json_result.err;
}

TEST_F(RolloutApiTest, ShipctlPromoteWithoutWaitPrintsTheRolloutAndExits0) {
  auto result = Ctl({"promote", "billing@1.0.0", "--to", "hold"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("promotion #1"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("shipctl rollout get 1"), std::string::npos) << result.out;
}

TEST_F(RolloutApiTest, ShipctlRolloutApproveAbortAndGet) {
  const int64_t gated = Promote("gated");
  ASSERT_NE(WaitForEvent(gated, "rollout.approval_needed"), nullptr);
  const std::string gated_id = std::to_string(gated);
  auto denied = Ctl({"rollout", "approve", gated_id}, viewer_);
  EXPECT_EQ(denied.exit_code, 3);
  EXPECT_NE(denied.err.find("lacks permission \"approve:gated\""), std::string::npos) << denied.err;
  auto approved = Ctl({"rollout", "approve", gated_id, "--reason", "looks good"});
  EXPECT_EQ(approved.exit_code, 0) << approved.out << approved.err;
  EXPECT_NE(approved.out.find("promotion #" + gated_id), std::string::npos) << approved.out;
  ASSERT_NE(WaitForEvent(gated, kTerminalKinds), nullptr);

  auto shown = Ctl({"rollout", "get", gated_id}, viewer_);
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  for (const char* text : {"state:        succeeded", "step:", "weight:", "rollout.created",
                           "rollout.approved", "looks good", "rollout.succeeded"}) {
    EXPECT_NE(shown.out.find(text), std::string::npos) << text << " in\n" << shown.out;
  }
  auto raw = Ctl({"-o", "json", "rollout", "get", gated_id}, viewer_);
  ASSERT_EQ(raw.exit_code, 0);
  EXPECT_EQ(json::parse(raw.out)["state"], "succeeded");

  const int64_t held = Promote("hold", "1.1.0");
  ASSERT_NE(WaitForEvent(held, "rollout.paused"), nullptr);
  const std::string held_id = std::to_string(held);
  auto aborted = Ctl({"rollout", "abort", held_id, "--reason", "not today"});
  EXPECT_EQ(aborted.exit_code, 0) << aborted.out << aborted.err;
  EXPECT_NE(aborted.out.find("promotion #" + held_id), std::string::npos) << aborted.out;
  ASSERT_NE(WaitForEvent(held, kTerminalKinds), nullptr);
  auto again = Ctl({"rollout", "abort", held_id});
  EXPECT_EQ(again.exit_code, 3);
  EXPECT_FALSE(again.err.empty());
  auto unknown = Ctl({"rollout", "resume", "999"});
  EXPECT_EQ(unknown.exit_code, 3);
  EXPECT_NE(unknown.err.find("unknown promotion 999"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace shipd::testing
