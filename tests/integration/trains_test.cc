// Release trains through the daemon (docs/trains.md): shipctl train create/board/depart/status,
// cars promoted providers first through two environments by a recording exec driver, a failing
// car rolled back with the cars that require it leaving (and carried over on a cadence train), a
// car refused at boarding, a cadence train departing by itself on the daemon's test clock, and a
// trip that continues after the daemon was killed.
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "integration/fixture.h"

namespace shipd::testing {
namespace {

using nlohmann::json;

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void ReplaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

class TrainsTest : public DaemonTest {
 protected:
  void SetUp() override {
    std::string pipelines = ReadText(SourceDir() / "tests/data/pipelines/trains.yaml");
    ReplaceAll(pipelines, "@DRIVER@", (SourceDir() / "tests/data/drivers/train.sh").string());
    ReplaceAll(pipelines, "@RECORD@", record_.string());
    ReplaceAll(pipelines, "@FAIL@", fail_.string());
    std::ofstream(dir_.path() / "trains.yaml") << pipelines;
    daemon_.set_pipelines(dir_.path() / "trains.yaml");
    DaemonTest::SetUp();
  }

  // Registers service@version providing `provides` (API name = service, at the version) and
  // requiring each of `requires` ("api range").
  void Register(const std::string& service, const std::string& version,
                const std::vector<std::pair<std::string, std::string>>& requires_ = {}) {
    auto [status, body] = Post("/v1/services", {{"name", service}});
    ASSERT_TRUE(status == 201 || status == 200) << body.dump();
    json manifest = {{"version", version},
                     {"artifact", "registry.example.com/" + service + ":" + version},
                     {"provides", {{{"api", service}, {"version", version}}}}};
    json requirements = json::array();
    for (const auto& [api, range] : requires_) {
      requirements.push_back({{"api", api}, {"range", range}});
    }
    manifest["requires"] = requirements;
    auto registered = Post("/v1/services/" + service + "/versions", manifest);
    ASSERT_EQ(registered.first, 201) << registered.second.dump();
  }

  // The driver's record: "ENVIRONMENT ACTION SERVICE@VERSION WEIGHT" lines, in order.
  std::vector<std::string> Record() const {
    std::vector<std::string> lines;
    std::istringstream in(ReadText(record_));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  // Index of the first record line that starts with `prefix`; -1 when none.
  int IndexOf(const std::string& prefix) const {
    auto lines = Record();
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
    }
    return -1;
  }

  // Long-polls the journal (no sleeping) until an event of `kind` about `train` appears or
  // `within` passes; returns it (null when it did not come).
  json WaitForTrainEvent(const std::string& kind, const std::string& train,
                         std::chrono::milliseconds within = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    int64_t after = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      auto events = Get("/v1/events?after=" + std::to_string(after) + "&limit=1000&wait_ms=5000")
                        .second["events"];
      for (const auto& event : events) {
        after = event["id"].get<int64_t>();
        if (event["kind"] == kind && event["subject"] == train) return event;
      }
    }
    return nullptr;
  }

  // What runs in the environment: service -> stable version ("" for a canary only).
  std::map<std::string, std::string> Live(const std::string& environment) {
    std::map<std::string, std::string> out;
    const json env = Get("/v1/environments/" + environment).second;
    for (const auto& d : env["live"]) {
      out[d["service"].get<std::string>()] =
          d["stable"].is_string() ? d["stable"].get<std::string>() : "";
    }
    return out;
  }

  static const json* FindCar(const json& trip, const std::string& service) {
    for (const auto& car : trip["cars"]) {
      if (car["service"] == service) return &car;
    }
    return nullptr;
  }

  std::filesystem::path record_ = dir_.path() / "driver.log";
  std::filesystem::path fail_ = dir_.path() / "fail.txt";
};

TEST_F(TrainsTest, FourServicesTravelTwoEnvironmentsProvidersFirst) {
  // users <- billing <- orders <- web: each requires the one before it.
  Register("users", "1.0.0");
  Register("billing", "2.0.0", {{"users", "^1.0"}});
  Register("orders", "3.0.0", {{"billing", "^2.0"}});
  Register("web", "5.0.0", {{"orders", "^3.0"}});

  auto created =
      daemon_.Shipctl({"train", "create", "release", "--route", "staging,prod"}, deployer_);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_NE(created.out.find("train release: staging -> prod"), std::string::npos) << created.out;
  // Boarded consumers first: alone, none but users could go anywhere; together they fit.
  auto boarded = daemon_.Shipctl(
      {"train", "board", "release", "web@5.0.0", "orders@3.0.0", "billing@2.0.0", "users@1.0.0"},
      deployer_);
  ASSERT_EQ(boarded.exit_code, 0) << boarded.out << boarded.err;

  auto departed =
      daemon_.Shipctl({"train", "depart", "release", "--wait", "--timeout", "2m"}, deployer_);
  ASSERT_EQ(departed.exit_code, 0) << departed.out << departed.err;
  EXPECT_NE(departed.out.find("departed with users@1.0.0, billing@2.0.0, orders@3.0.0, web@5.0.0"),
            std::string::npos)
      << departed.out;
  EXPECT_NE(departed.out.find("reached prod"), std::string::npos) << departed.out;
  EXPECT_NE(departed.out.find("arrived in prod: users@1.0.0, billing@2.0.0, orders@3.0.0, "
                              "web@5.0.0"),
            std::string::npos)
      << departed.out;

  // In each environment a provider is promoted before its consumer's canary is deployed, and
  // every car is through staging before any goes to prod.
  const std::vector<std::string> order = {"users@1.0.0", "billing@2.0.0", "orders@3.0.0",
                                          "web@5.0.0"};
  for (const std::string env : {"staging", "prod"}) {
    for (size_t i = 0; i + 1 < order.size(); ++i) {
      const int promoted = IndexOf(env + " promote " + order[i]);
      const int next_deployed = IndexOf(env + " deploy " + order[i + 1]);
      ASSERT_GE(promoted, 0) << env << " " << order[i];
      EXPECT_LT(promoted, next_deployed) << env << ": " << order[i] << " before " << order[i + 1];
    }
  }
  EXPECT_LT(IndexOf("staging promote web@5.0.0"), IndexOf("prod deploy users@1.0.0"));
  // Each car went through its environment's canary strategy.
  for (const std::string& car : order) {
    for (const std::string env : {"staging", "prod"}) {
      EXPECT_GE(IndexOf(env + " weight " + car + " 50"), 0) << env << " " << car;
    }
  }

  auto [status, train] = Get("/v1/trains/release", viewer_);
  ASSERT_EQ(status, 200);
  const json& trip = train["trips"][1];  // trips are newest first: [0] is trip 2, boarding
  EXPECT_EQ(train["trips"][0]["state"], "boarding");
  EXPECT_EQ(trip["number"], 1);
  EXPECT_EQ(trip["state"], "arrived");
  EXPECT_EQ(trip["departed_by"], "ci");
  for (const auto& car : trip["cars"]) EXPECT_EQ(car["state"], "arrived") << car.dump();
  EXPECT_EQ((*FindCar(trip, "web"))["depends_on"], json({"orders"}));
  EXPECT_EQ(Live("prod")["web"], "5.0.0");

  auto status_text = daemon_.Shipctl({"train", "status", "release"}, viewer_);
  ASSERT_EQ(status_text.exit_code, 0) << status_text.err;
  EXPECT_NE(status_text.out.find("trip 1: arrived"), std::string::npos) << status_text.out;
}

TEST_F(TrainsTest, FailingCarRollsBackItsDependentsLeaveAndAnIndependentCarArrives) {
  Register("users", "1.0.0");
  ASSERT_EQ(PromoteAndWait("users", "1.0.0", "staging")["state"], "succeeded");
  ASSERT_EQ(PromoteAndWait("users", "1.0.0", "prod")["state"], "succeeded");
  Register("billing", "2.1.0", {{"users", "^1.0"}});
  Register("orders", "3.1.0", {{"billing", "^2.1"}});
  Register("invoices", "1.0.0", {{"orders", "^3.1"}});
  Register("search", "1.0.0");  // requires nothing aboard
  std::ofstream(fail_) << "billing@2.1.0\n";

  ASSERT_EQ(Post("/v1/trains", {{"name", "weekly"}, {"route", {"staging", "prod"}}}).first, 201);
  auto [code, body] =
      Post("/v1/trains/weekly/cars",
           {{"cars", {"search@1.0.0", "billing@2.1.0", "orders@3.1.0", "invoices@1.0.0"}}});
  ASSERT_EQ(code, 201) << body.dump();

  auto departed =
      daemon_.Shipctl({"train", "depart", "weekly", "--wait", "--timeout", "2m"}, deployer_);
  EXPECT_EQ(departed.exit_code, 1) << departed.out << departed.err;
  EXPECT_NE(departed.out.find("billing@2.1.0 failed: rolled back"), std::string::npos)
      << departed.out;
  EXPECT_NE(departed.out.find("orders@3.1.0 left: left with billing@2.1.0"), std::string::npos)
      << departed.out;
  EXPECT_NE(departed.out.find("arrived in prod: search@1.0.0; failed: billing@2.1.0; left: "
                              "orders@3.1.0, invoices@1.0.0"),
            std::string::npos)
      << departed.out;

  auto train = Get("/v1/trains/weekly").second;
  const json& trip = train["trips"][1];
  EXPECT_EQ((*FindCar(trip, "search"))["state"], "arrived");
  const json& billing = *FindCar(trip, "billing");
  EXPECT_EQ(billing["state"], "failed");
  EXPECT_EQ(billing["environment"], "staging");
  EXPECT_NE(billing["reason"].get<std::string>().find("does not start in staging"),
            std::string::npos)
      << billing.dump();
  EXPECT_EQ((*FindCar(trip, "orders"))["state"], "left");
  const json& invoices = *FindCar(trip, "invoices");
  EXPECT_EQ(invoices["state"], "left");  // through orders, which requires billing
  EXPECT_EQ(invoices["reason"], "left with orders, which it depends on");
  // The failed canary was rolled back; the cars that left were never deployed anywhere; no
  // cadence, so nothing is carried over.
  EXPECT_GE(IndexOf("staging rollback billing@2.1.0"), 0);
  EXPECT_EQ(IndexOf("staging deploy orders@3.1.0"), -1);
  EXPECT_EQ(IndexOf("prod deploy billing@2.1.0"), -1);
  EXPECT_GE(IndexOf("prod promote search@1.0.0"), 0);
  EXPECT_TRUE(train["trips"][0]["cars"].empty());
  EXPECT_EQ(Live("staging").count("billing"), 0u);
}

TEST_F(TrainsTest, AConsumerThatAcceptsBothMajorsGoesBeforeItsProvidersNewMajor) {
  // orders 4.0.0 breaks web 5.0.0 (requires ^3.0); web 6.0.0 accepts 3.x and 4.x. Providers
  // first would break web 5 in between, so web 6 travels first, then orders 4.
  Register("orders", "3.0.0");
  Register("web", "5.0.0", {{"orders", "^3.0"}});
  for (const std::string env : {"staging", "prod"}) {
    ASSERT_EQ(PromoteAndWait("orders", "3.0.0", env)["state"], "succeeded");
    ASSERT_EQ(PromoteAndWait("web", "5.0.0", env)["state"], "succeeded");
  }
  Register("orders", "4.0.0");
  Register("web", "6.0.0", {{"orders", ">=3.0.0 <5.0.0"}});
  ASSERT_EQ(Post("/v1/trains", {{"name", "major"}, {"route", "staging,prod"}}).first, 201);
  // Alone, orders 4.0.0 would break web 5.0.0 everywhere.
  EXPECT_EQ(Post("/v1/trains/major/cars", {{"cars", {"orders@4.0.0"}}}).first, 409);
  auto [code, body] = Post("/v1/trains/major/cars", {{"cars", {"orders@4.0.0", "web@6.0.0"}}});
  ASSERT_EQ(code, 201) << body.dump();

  auto departed =
      daemon_.Shipctl({"train", "depart", "major", "--wait", "--timeout", "2m"}, deployer_);
  ASSERT_EQ(departed.exit_code, 0) << departed.out << departed.err;
  EXPECT_NE(departed.out.find("departed with web@6.0.0, orders@4.0.0"), std::string::npos)
      << departed.out;
  for (const std::string env : {"staging", "prod"}) {
    EXPECT_LT(IndexOf(env + " promote web@6.0.0"), IndexOf(env + " deploy orders@4.0.0")) << env;
    EXPECT_EQ(Live(env)["orders"], "4.0.0");
    EXPECT_EQ(Live(env)["web"], "6.0.0");
  }
  auto trip = Get("/v1/trains/major").second["trips"][1];
  EXPECT_EQ((*FindCar(trip, "orders"))["depends_on"], json({"web"}));
}

TEST_F(TrainsTest, ACarThatCannotFitIsRefusedAtBoardingAndNothingChanges) {
  Register("orders", "3.0.0");
  Register("web", "5.0.0", {{"orders", "^3.0"}});
  Register("web", "6.0.0", {{"orders", "^4.0"}});
  ASSERT_EQ(Post("/v1/trains", {{"name", "release"}, {"route", "staging,prod"}}).first, 201);
  ASSERT_EQ(Post("/v1/trains/release/cars", {{"service", "orders"}, {"version", "3.0.0"}}).first,
            201);
  const int64_t events_before = Get("/readyz").second["last_event_id"];

  // web 6.0.0 requires orders ^4.0: nothing live or aboard provides it, in either environment.
  auto refused = daemon_.Shipctl({"train", "board", "release", "web@6.0.0"}, deployer_);
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.out.find("refused: cannot board release: in staging:"), std::string::npos)
      << refused.out;
  EXPECT_NE(refused.out.find(" in prod:"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("orders"), std::string::npos) << refused.out;
  auto [code, body] = Post("/v1/trains/release/cars", {{"cars", {"web@6.0.0"}}});
  EXPECT_EQ(code, 409);
  EXPECT_EQ(body["error"]["code"], "blocked");
  EXPECT_EQ(body["error"]["details"]["environments"][0]["environment"], "staging");
  EXPECT_FALSE(body["error"]["details"]["environments"][0]["verdict"]["allowed"]);

  // The manifest is as it was; the refusals are in the journal (audited), nothing else is.
  auto train = Get("/v1/trains/release").second;
  ASSERT_EQ(train["trips"][0]["cars"].size(), 1u);
  EXPECT_EQ(train["trips"][0]["cars"][0]["car"], "orders@3.0.0");
  auto events =
      Get("/v1/events?after=" + std::to_string(events_before) + "&limit=100").second["events"];
  int refusals = 0;
  for (const auto& event : events) {
    if (event["kind"] == "train.boarding_refused") ++refusals;
    EXPECT_NE(event["kind"], "train.boarded");
  }
  EXPECT_EQ(refusals, 2);

  // web 5.0.0 fits with the orders aboard; bad input is a clear error (exit 3).
  EXPECT_EQ(daemon_.Shipctl({"train", "board", "release", "web@5.0.0"}, deployer_).exit_code, 0);
  auto unknown = daemon_.Shipctl({"train", "board", "release", "web@9.9.9"}, deployer_);
  EXPECT_EQ(unknown.exit_code, 3);
  EXPECT_NE(unknown.err.find("unknown version web@9.9.9"), std::string::npos) << unknown.err;
  EXPECT_EQ(daemon_.Shipctl({"train", "board", "release", "web@not-semver"}, deployer_).exit_code,
            3);
  EXPECT_EQ(daemon_.Shipctl({"train", "board", "nowhere", "web@5.0.0"}, deployer_).exit_code, 3);
  EXPECT_EQ(Post("/v1/trains", {{"name", "bad"}, {"route", "staging,moon"}}).first, 404);
  EXPECT_EQ(
      Post("/v1/trains", {{"name", "bad"}, {"route", "staging"}, {"cadence", "61 * * * *"}}).first,
      400);
  // Leaving before departure takes the car off.
  auto left = daemon_.Shipctl({"train", "leave", "release", "web"}, deployer_);
  EXPECT_EQ(left.exit_code, 0) << left.err;
  EXPECT_EQ(Get("/v1/trains/release").second["trips"][0]["cars"].size(), 1u);
}

TEST_F(TrainsTest, ChangingATrainNeedsTrainPermissionForEveryEnvironmentOfItsRoute) {
  Register("users", "1.0.0");
  auto [code, body] = Post("/v1/trains", {{"name", "release"}, {"route", "staging,prod"}}, viewer_);
  EXPECT_EQ(code, 403);
  EXPECT_NE(body["error"]["message"].get<std::string>().find("lacks permission \"train:staging\""),
            std::string::npos)
      << body.dump();
  ASSERT_EQ(Post("/v1/trains", {{"name", "release"}, {"route", "staging,prod"}}, deployer_).first,
            201);
  EXPECT_EQ(Post("/v1/trains/release/cars", {{"cars", {"users@1.0.0"}}}, viewer_).first, 403);
  EXPECT_EQ(Post("/v1/trains/release/depart", json::object(), viewer_).first, 403);
  EXPECT_EQ(Get("/v1/trains/release", viewer_).first, 200);
  EXPECT_EQ(Get("/v1/trains", viewer_).second["trains"].size(), 1u);
  // Without --test-clock the daemon has no test clock to move.
  EXPECT_EQ(Post("/v1/test/clock", {{"advance", "1h"}}).first, 404);
}

TEST_F(TrainsTest, TripContinuesAfterTheDaemonIsKilled) {
  Register("users", "1.0.0");
  Register("billing", "2.0.0", {{"users", "^1.0"}});
  ASSERT_EQ(Post("/v1/trains", {{"name", "release"}, {"route", "staging,prod"}}).first, 201);
  ASSERT_EQ(Post("/v1/trains/release/cars", {{"cars", {"users@1.0.0", "billing@2.0.0"}}}).first,
            201);
  ASSERT_EQ(Post("/v1/trains/release/depart", json::object()).first, 200);
  // Killed as soon as the first car is under way in staging.
  ASSERT_FALSE(WaitForTrainEvent("train.car_started", "release").is_null());
  daemon_.Stop(SIGKILL);
  ASSERT_TRUE(daemon_.Start()) << daemon_.last_error();
  ASSERT_FALSE(WaitForTrainEvent("train.arrived", "release").is_null()) << daemon_.StderrLog();
  auto trip = Get("/v1/trains/release").second["trips"][1];
  EXPECT_EQ(trip["state"], "arrived");
  for (const auto& car : trip["cars"]) EXPECT_EQ(car["state"], "arrived") << car.dump();
  // Each car has exactly one rollout per environment: the restart found the one it had started
  // rather than asking again. (The driver may see an operation twice: the rollout engine re-applies
  // the one it was in, docs/rollouts.md#crash-safety.)
  for (const std::string service : {"users", "billing"}) {
    for (const std::string env : {"staging", "prod"}) {
      const json found =
          Get("/v1/promotions?service=" + service + "&environment=" + env).second["promotions"];
      ASSERT_EQ(found.size(), 1u) << service << " " << env << " " << found.dump();
      EXPECT_EQ(found[0]["state"], "succeeded");
    }
  }
  auto promotions = Get("/v1/promotions?limit=100").second["promotions"];
  EXPECT_EQ(promotions.size(), 4u) << promotions.dump();
}

// The daemon runs on a test clock (shipd --test-clock) that moves only when the test says so.
class CadenceTrainTest : public TrainsTest {
 protected:
  void SetUp() override {
    TrainsTest::SetUp();
    // Restarted on the test clock: Tuesday 1 December 2026, 08:00 UTC (09:00 in Berlin).
    daemon_.Stop(SIGTERM);
    ASSERT_TRUE(daemon_.Start({"--test-clock", "2026-12-01T08:00Z"})) << daemon_.last_error();
  }
  std::string Advance(const std::string& by) {
    auto [code, body] = Post("/v1/test/clock", {{"advance", by}});
    EXPECT_EQ(code, 200) << body.dump();
    return body.value("now", std::string());
  }
};

TEST_F(CadenceTrainTest, DepartsByItselfAndCarriesOverCarsThatHadToLeave) {
  Register("users", "1.0.0");
  Register("billing", "2.1.0", {{"users", "^1.0"}});
  Register("orders", "3.1.0", {{"billing", "^2.1"}});
  std::ofstream(fail_) << "billing@2.1.0\n";
  // Tuesdays 10:00 in Berlin = 09:00 UTC in winter; boarding closes 30 minutes before.
  auto created =
      daemon_.Shipctl({"train", "create", "tuesday", "--route", "staging,prod", "--cadence",
                       "0 10 * * TUE", "--timezone", "Europe/Berlin", "--cutoff", "30m"},
                      deployer_);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_NE(created.out.find("next departure 2026-12-01T09:00:00Z, boarding closes "
                             "2026-12-01T08:30:00Z"),
            std::string::npos)
      << created.out;
  ASSERT_EQ(
      daemon_
          .Shipctl({"train", "board", "tuesday", "users@1.0.0", "billing@2.1.0", "orders@3.1.0"},
                   deployer_)
          .exit_code,
      0);
  EXPECT_EQ(Advance("40m"), "2026-12-01T08:40:00Z");
  auto late = daemon_.Shipctl({"train", "board", "tuesday", "users@1.0.0"}, deployer_);
  EXPECT_EQ(late.exit_code, 0);  // already aboard: nothing to do
  Register("search", "1.0.0");
  late = daemon_.Shipctl({"train", "board", "tuesday", "search@1.0.0"}, deployer_);
  EXPECT_EQ(late.exit_code, 3);
  EXPECT_NE(late.err.find("boarding of tuesday trip 1 closed at 2026-12-01T08:30:00Z"),
            std::string::npos)
      << late.err;
  EXPECT_EQ(Get("/v1/trains/tuesday").second["trips"][0]["state"], "boarding");

  // 09:00 UTC: it departs by itself, without anyone asking.
  Advance("20m");
  json departed = WaitForTrainEvent("train.departed", "tuesday");
  ASSERT_FALSE(departed.is_null()) << daemon_.StderrLog();
  EXPECT_EQ(departed["actor"], "system");
  ASSERT_FALSE(WaitForTrainEvent("train.arrived", "tuesday").is_null()) << daemon_.StderrLog();

  auto train = Get("/v1/trains/tuesday").second;
  const json& trip = train["trips"][1];
  EXPECT_EQ(trip["departed_at"], "2026-12-01T09:00:00Z");
  EXPECT_EQ((*FindCar(trip, "users"))["state"], "arrived");
  EXPECT_EQ((*FindCar(trip, "billing"))["state"], "failed");
  EXPECT_EQ((*FindCar(trip, "orders"))["state"], "left");
  // The next trip departs a week later and carries orders, which had to leave; billing failed
  // on its own and needs a fixed version to board.
  EXPECT_EQ(train["next_departure"], "2026-12-08T09:00:00Z");
  const json& next = train["trips"][0];
  EXPECT_EQ(next["number"], 2);
  ASSERT_EQ(next["cars"].size(), 1u) << next.dump();
  EXPECT_EQ(next["cars"][0]["car"], "orders@3.1.0");
  EXPECT_EQ(next["cars"][0]["carried_from"], 1);
  // Only an admin moves the test clock.
  EXPECT_EQ(Post("/v1/test/clock", {{"advance", "1h"}}, deployer_).first, 403);
}

}  // namespace
}  // namespace shipd::testing
