// shipctl: the command-line client of shipd. A thin REST client: it sends requests, prints
// tables (or JSON with -o json) and exits 0 yes/succeeded, 1 no, 2 unknown, 3 error.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "client.h"
#include "output.h"
#include "rollout_text.h"
#include "shipd/common/yaml_json.h"
#include "shipd/contract/openapi_diff.h"

namespace shipd::cli {
namespace {

using nlohmann::json;

constexpr int kExitYes = 0;
constexpr int kExitError = 3;

struct Globals {
  std::string output = "table";
  bool json() const { return output == "json"; }
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// Prints an error the way every command does, and returns the error exit code.
int Fail(const std::string& message) {
  std::cerr << "error: " << message << std::endl;
  return kExitError;
}

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buffer[4];
      std::snprintf(buffer, sizeof(buffer), "%%%02X", c);
      out += buffer;
    }
  }
  return out;
}

// Runs a request; on an HTTP error prints the server's message and returns nullopt.
std::optional<json> Call(Result<ApiResponse> response, int* exit_code) {
  if (!response.ok()) {
    *exit_code = Fail(response.error().message());
    return std::nullopt;
  }
  if (response->status < 200 || response->status >= 300) {
    *exit_code = Fail(ErrorMessage(*response));
    return std::nullopt;
  }
  return response->body;
}

Result<std::pair<std::string, std::string>> SplitRef(const std::string& ref) {
  auto at = ref.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == ref.size()) {
    return Error(ErrorCode::kBadRequest,
                 "\"" + ref + "\" must be SERVICE@VERSION, e.g. orders@3.2.0");
  }
  return std::pair{ref.substr(0, at), ref.substr(at + 1)};
}

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::kBadRequest, "cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Reads ship.yaml, inlines the spec files it names (paths relative to the manifest) and applies
// the command-line overrides.
Result<json> LoadManifest(const std::string& file, const std::string& version,
                          const std::string& artifact, const std::string& commit) {
  auto text = ReadFile(file);
  if (!text.ok()) return text.error();
  auto doc = ParseJsonOrYaml(*text);
  if (!doc.ok()) return doc.error().WithContext(file);
  if (!doc->is_object()) return Error(ErrorCode::kBadRequest, file + ": must be a mapping");
  const auto base = std::filesystem::path(file).parent_path();
  if (doc->contains("provides") && (*doc)["provides"].is_array()) {
    for (auto& provide : (*doc)["provides"]) {
      if (!provide.is_object() || !provide.contains("spec") || !provide["spec"].is_string()) {
        continue;
      }
      const auto spec_path = base / provide["spec"].get<std::string>();
      auto spec = ReadFile(spec_path);
      if (!spec.ok()) {
        return Error(ErrorCode::kBadRequest, file + ": spec " + provide["spec"].get<std::string>() +
                                                 ": cannot read " + spec_path.string());
      }
      provide["spec"] = *spec;
    }
  }
  (*doc)["version"] = version;
  if (!artifact.empty()) (*doc)["artifact"] = artifact;
  if (!commit.empty()) (*doc)["commit"] = commit;
  return doc;
}

std::string Cell(const json& deployment) {
  if (!deployment.is_object()) return "-";
  std::string text =
      deployment["stable"].is_string() ? deployment["stable"].get<std::string>() : "-";
  if (deployment["canary"].is_string()) {
    text += " (canary " + deployment["canary"].get<std::string>() + " " +
            std::to_string(deployment["canary_weight"].get<int>()) + "%)";
  }
  return text;
}

void PrintJson(const json& body) { std::cout << body.dump(2) << std::endl; }

constexpr int kExitNo = 1;
constexpr int kExitUnknown = 2;

// "30s", "5m", "2h", "1h30m" → milliseconds; nullopt when malformed.
std::optional<int64_t> ParseDurationMs(const std::string& text) {
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t digits = i;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    if (digits == i) return std::nullopt;
    const int64_t value = std::stoll(text.substr(i, digits - i));
    size_t unit_end = digits;
    while (unit_end < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_end]))) {
      ++unit_end;
    }
    const std::string unit = text.substr(digits, unit_end - digits);
    const int64_t scale = unit == "ms"  ? 1
                          : unit == "s" ? 1000
                          : unit == "m" ? 60'000
                          : unit == "h" ? 3'600'000
                                        : 0;
    if (scale == 0) return std::nullopt;
    total += value * scale;
    i = unit_end;
  }
  return total;
}

// One line per reason or warning, for people.
// The locks and the freezes in force (windows and ad-hoc), after the status table; nothing when
// there are none.
void PrintHolds(ApiClient& api, int* exit_code) {
  auto locks = Call(api.Get("/v1/locks"), exit_code);
  auto freezes = Call(api.Get("/v1/freezes"), exit_code);
  if (!locks || !freezes) return;
  auto until = [](const json& value) {
    return value.is_string() ? value.get<std::string>() : std::string("unlocked");
  };
  if (!(*locks)["locks"].empty()) {
    std::cout << "\n";
    Table table({"LOCKED", "ENVIRONMENT", "OWNER", "UNTIL", "REASON"});
    for (const auto& l : (*locks)["locks"]) {
      table.AddRow(
          {l["service"], l["environment"], l["owner"], until(l["expires_at"]), l["reason"]});
    }
    table.Print(std::cout);
  }
  if (!(*freezes)["in_force"].empty()) {
    std::cout << "\n";
    Table table({"FROZEN", "UNTIL", "REASON"});
    for (const auto& f : (*freezes)["in_force"]) {
      table.AddRow({f["environment"], f["until"], f["reason"]});
    }
    table.Print(std::cout);
  }
}

// ["a", "b"] as "a, b".
std::string JoinText(const json& items) {
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "" : ", ") + (item.is_string() ? item.get<std::string>() : item.dump());
  }
  return out;
}

void PrintReasons(const json& verdict) {
  for (const char* kind : {"reasons", "warnings"}) {
    if (!verdict.contains(kind)) continue;
    for (const auto& reason : verdict[kind]) {
      std::string line = std::string(kind[0] == 'r' ? "  x " : "  ! ") +
                         reason.value("rule", std::string("?")) + ": ";
      line += reason.value("message", reason.dump());
      std::cout << line << "\n";
      if (reason.contains("findings")) {
        for (const auto& finding : reason["findings"]) {
          std::cout << "      " << finding.value("where", std::string()) << ": "
                    << finding.value("message", std::string()) << "\n";
        }
      }
    }
  }
}

std::string QueryFor(const std::string& service, const std::string& version,
                     const std::string& environment) {
  return "service=" + UrlEncode(service) + "&version=" + UrlEncode(version) +
         "&environment=" + UrlEncode(environment);
}

void SleepMs(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// How long one long-poll of the journal may wait; below the client's 60 s read timeout.
constexpr int64_t kFollowPollMs = 25'000;

int StepsOf(const json& promotion) {
  const json& progress = promotion.value("progress", json::object());
  return progress.is_object() ? progress.value("steps", 0) : 0;
}

std::string ClockTime(const json& event) {
  const std::string stamp = FormatTime(event.value("time", int64_t{0}));
  return stamp.size() > 11 ? stamp.substr(11) : stamp;  // HH:MM:SS
}

// Follows promotion `id` until it is finished or `deadline` passes, printing one line per event
// of it unless `quiet`. Returns the promotion as last read; nullopt on an error (reported).
std::optional<json> FollowRollout(ApiClient& api, int64_t id,
                                  std::chrono::steady_clock::time_point deadline, bool quiet,
                                  int* exit_code) {
  const std::string path = "/v1/promotions/" + std::to_string(id);
  auto promotion = Call(api.Get(path), exit_code);
  if (!promotion) return std::nullopt;
  auto print = [&](const json& event) {
    if (quiet) return;
    std::cout << ClockTime(event) << "  " << DescribeEvent(event, StepsOf(*promotion)) << std::endl;
  };
  // The history so far, then the journal after it: nothing is missed or printed twice.
  int64_t after = 0;
  for (const auto& event : promotion->value("events", json::array())) {
    print(event);
    after = std::max(after, event.value("id", int64_t{0}));
  }
  if (after == 0) {
    auto ready = Call(api.Get("/readyz"), exit_code);
    if (!ready) return std::nullopt;
    after = ready->value("last_event_id", int64_t{0});
  }
  // Until its final event is printed (the promotion may be finished before this reads the last
  // events: then they are read without waiting), or the deadline passes.
  bool finished = (*promotion)["finished_at"].is_number();
  bool ended = finished;  // the history already holds the final event
  while (!ended) {
    int64_t wait = 0;
    if (!finished) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) break;
      wait = std::clamp<int64_t>(left, 1, kFollowPollMs);
    }
    auto page = Call(api.Get("/v1/events?after=" + std::to_string(after) +
                             "&limit=1000&wait_ms=" + std::to_string(wait)),
                     exit_code);
    if (!page) return std::nullopt;
    bool ours = false;
    for (const auto& event : (*page)["events"]) {
      const json& data = event["data"];
      if (!data.is_object() || data.value("promotion", int64_t{0}) != id) continue;
      ours = true;
      print(event);
      if (IsTerminalEvent(event.value("kind", std::string()))) ended = true;
    }
    after = (*page)["next_after"].get<int64_t>();
    if (finished && (*page)["events"].empty()) break;  // nothing more in the journal
    if (ours) {
      promotion = Call(api.Get(path), exit_code);
      if (!promotion) return std::nullopt;
      finished = (*promotion)["finished_at"].is_number();
    }
  }
  return promotion;
}

// A train for people: the route and schedule, then each shown trip with its cars.
void PrintTrain(const json& train) {
  std::string route;
  for (const auto& env : train["route"]) {
    route += (route.empty() ? "" : " -> ") + env.get<std::string>();
  }
  std::cout << "train " << train.value("name", std::string()) << ": " << route;
  if (train["cadence"].is_string()) {
    std::cout << ", departs \"" << train["cadence"].get<std::string>() << "\" ("
              << train.value("timezone", std::string("UTC")) << ")";
  }
  std::cout << "\n";
  if (train["next_departure"].is_string()) {
    std::cout << "next departure " << train["next_departure"].get<std::string>();
    if (train["boarding_closes_at"].is_string()) {
      std::cout << ", boarding closes " << train["boarding_closes_at"].get<std::string>();
    }
    std::cout << "\n";
  }
  int shown = 0;
  for (const auto& trip : train["trips"]) {
    const std::string state = trip.value("state", std::string());
    if (shown++ >= 2) break;  // the boarding trip and the one before it
    std::cout << "\ntrip " << trip.value("number", int64_t{0}) << ": " << state;
    if (trip.contains("environment")) {
      std::cout << " (in " << trip["environment"].get<std::string>() << ")";
    }
    if (trip["departed_at"].is_string()) {
      std::cout << ", departed " << trip["departed_at"].get<std::string>();
    }
    if (trip["arrived_at"].is_string()) {
      std::cout << ", arrived " << trip["arrived_at"].get<std::string>();
    }
    std::cout << "\n";
    if (trip["cars"].empty()) {
      std::cout << "  (no cars)\n";
      continue;
    }
    Table table({"CAR", "STATE", "ENV", "ROLLOUT", "NEEDS", "REASON"});
    for (const auto& car : trip["cars"]) {
      std::string needs;
      for (const auto& dep : car["depends_on"]) {
        needs += (needs.empty() ? "" : ",") + dep.get<std::string>();
      }
      table.AddRow(
          {car.value("car", std::string()), car.value("state", std::string()),
           car.contains("environment") && car["environment"].is_string()
               ? car["environment"].get<std::string>()
               : "-",
           car.contains("promotion") ? "#" + std::to_string(car["promotion"].get<int64_t>()) : "-",
           needs.empty() ? "-" : needs, car.value("reason", std::string())});
    }
    table.Print(std::cout);
  }
}

// 0 when every car of the trip arrived, 1 when it arrived without some, 2 while it travels.
int TrainExitCode(const json& train, int64_t number) {
  for (const auto& trip : train["trips"]) {
    if (trip.value("number", int64_t{0}) != number) continue;
    if (trip.value("state", std::string()) != "arrived") return kExitUnknown;
    for (const auto& car : trip["cars"]) {
      if (car.value("state", std::string()) != "arrived") return kExitNo;
    }
    return kExitYes;
  }
  return kExitUnknown;
}

// Prints the train's journal events for the trip (one line each) until it arrives or the
// deadline passes; returns the train as it is then.
std::optional<json> FollowTrain(ApiClient& api, const std::string& name, int64_t number,
                                int64_t after, std::chrono::steady_clock::time_point deadline,
                                bool quiet, int* exit_code) {
  bool arrived = false;
  while (!arrived) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    auto page = Call(api.Get("/v1/events?after=" + std::to_string(after) + "&limit=1000&wait_ms=" +
                             std::to_string(std::clamp<int64_t>(left, 1, kFollowPollMs))),
                     exit_code);
    if (!page) return std::nullopt;
    for (const auto& event : (*page)["events"]) {
      after = std::max(after, event.value("id", int64_t{0}));
      const json& data = event["data"];
      const std::string kind = event.value("kind", std::string());
      if (kind.rfind("train.", 0) != 0 || !data.is_object() ||
          data.value("train", std::string()) != name || data.value("trip", int64_t{0}) != number) {
        continue;
      }
      if (!quiet) std::cout << ClockTime(event) << "  " << DescribeTrainEvent(event) << std::endl;
      if (kind == "train.arrived") arrived = true;
    }
  }
  return Call(api.Get("/v1/trains/" + UrlEncode(name)), exit_code);
}

int ExitCodeOfState(const std::string& state, bool finished) {
  if (state == "succeeded") return kExitYes;
  return finished ? kExitNo : kExitUnknown;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "shipctl — drive shipd, the deployment control plane\n"
      "SHIP_SERVER (default http://127.0.0.1:7700) and SHIP_TOKEN configure it.\n"
      "Exit codes: 0 yes/succeeded, 1 no (blocked, failed), 2 unknown, 3 error."};
  app.set_version_flag("--version", "shipctl 0.1.0");
  app.require_subcommand(1);
  Globals globals;
  app.add_option("-o,--output", globals.output, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  std::string server = EnvOr("SHIP_SERVER", "http://127.0.0.1:7700");
  std::string token = EnvOr("SHIP_TOKEN", "");
  app.add_option("--server", server, "shipd URL (default $SHIP_SERVER)");

  int exit_code = kExitYes;
  std::optional<ApiClient> client;
  auto api = [&]() -> ApiClient& {
    if (!client) client.emplace(server, token);
    return *client;
  };

  // service add / list / get
  auto* service = app.add_subcommand("service", "register and list services");
  service->require_subcommand(1);
  auto* service_add = service->add_subcommand("add", "register a service");
  std::string service_name, service_repo;
  service_add->add_option("name", service_name, "service name")->required();
  service_add->add_option("--repo", service_repo, "repository URL");
  service_add->callback([&] {
    json body = {{"name", service_name}};
    if (!service_repo.empty()) body["repo"] = service_repo;
    auto reply = Call(api().Post("/v1/services", body.dump()), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    std::cout << "service " << (*reply)["name"].get<std::string>() << " registered\n";
  });
  auto* service_list = service->add_subcommand("list", "list services");
  service_list->callback([&] {
    auto reply = Call(api().Get("/v1/services"), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    Table table({"SERVICE", "VERSIONS", "LATEST", "REPO"});
    for (const auto& s : (*reply)["services"]) {
      table.AddRow({s["name"], std::to_string(s["version_count"].get<int>()),
                    s["latest"].is_string() ? s["latest"].get<std::string>() : "-", s["repo"]});
    }
    table.Print(std::cout);
  });

  // version register / list / get
  auto* version = app.add_subcommand("version", "register and inspect versions");
  version->require_subcommand(1);
  auto* version_register = version->add_subcommand(
      "register", "register SERVICE@VERSION -f ship.yaml, or SERVICE --from-git TAG");
  std::string version_ref, manifest_file, artifact, commit, from_git;
  version_register->add_option("ref", version_ref, "SERVICE@VERSION (SERVICE with --from-git)")
      ->required();
  version_register->add_option("-f,--file", manifest_file, "ship.yaml manifest");
  version_register->add_option("--artifact", artifact, "artifact reference (overrides ship.yaml)");
  version_register->add_option("--commit", commit, "git commit id");
  version_register->add_option("--from-git", from_git,
                               "read the version from this tag of the service's repository");
  version_register->callback([&] {
    if (!from_git.empty()) {
      if (!manifest_file.empty()) {
        exit_code = Fail("--from-git reads ship.yaml from the tag; drop -f");
        return;
      }
      const std::string git_service = version_ref.substr(0, version_ref.find('@'));
      auto reply = Call(api().Post("/v1/services/" + UrlEncode(git_service) + "/versions/from-git",
                                   json{{"tag", from_git}}.dump()),
                        &exit_code);
      if (!reply) return;
      if (globals.json()) return PrintJson(*reply);
      std::cout << (*reply)["version"].get<std::string>() << " "
                << ((*reply)["status"] == "registered" ? "registered"
                                                       : "already registered with the same content")
                << " from tag " << from_git << "\n";
      return;
    }
    if (manifest_file.empty()) {
      exit_code = Fail("give the manifest with -f ship.yaml, or --from-git TAG");
      return;
    }
    auto ref = SplitRef(version_ref);
    if (!ref.ok()) {
      exit_code = Fail(ref.error().message());
      return;
    }
    auto manifest = LoadManifest(manifest_file, ref->second, artifact, commit);
    if (!manifest.ok()) {
      exit_code = Fail(manifest.error().message());
      return;
    }
    if (!manifest->contains("service")) (*manifest)["service"] = ref->first;
    auto response =
        api().Post("/v1/services/" + UrlEncode(ref->first) + "/versions", manifest->dump());
    const bool created = response.ok() && response->status == 201;
    auto reply = Call(std::move(response), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    std::cout << (*reply)["service"].get<std::string>() << "@"
              << (*reply)["version"].get<std::string>()
              << (created ? " registered" : " already registered with the same content") << "\n";
  });
  auto* version_list = version->add_subcommand("list", "list a service's versions");
  std::string list_service;
  version_list->add_option("service", list_service, "service name")->required();
  version_list->callback([&] {
    auto reply =
        Call(api().Get("/v1/services/" + UrlEncode(list_service) + "/versions"), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    Table table({"VERSION", "PROVIDES", "REQUIRES", "REGISTERED"});
    for (const auto& v : (*reply)["versions"]) {
      std::string provides, requirements;
      for (const auto& p : v["provides"]) {
        provides += (provides.empty() ? "" : ", ") + p["api"].get<std::string>() + "@" +
                    p["version"].get<std::string>();
      }
      for (const auto& r : v["requires"]) {
        requirements += (requirements.empty() ? "" : ", ") + r["api"].get<std::string>() + " " +
                        r["range"].get<std::string>() +
                        (r["optional"].get<bool>() ? " (optional)" : "");
      }
      table.AddRow({v["version"], provides.empty() ? "-" : provides,
                    requirements.empty() ? "-" : requirements,
                    FormatTime(v["created_at"].get<int64_t>())});
    }
    table.Print(std::cout);
  });

  // status [ENV]
  auto* status = app.add_subcommand("status", "what runs where: service x environment");
  std::string status_env;
  status->add_option("env", status_env, "only this environment");
  status->callback([&] {
    auto reply = Call(api().Get(status_env.empty() ? "/v1/environments"
                                                   : "/v1/environments/" + UrlEncode(status_env)),
                      &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    json environments = status_env.empty() ? (*reply)["environments"] : json::array({*reply});
    auto services = Call(api().Get("/v1/services"), &exit_code);
    if (!services) return;
    std::vector<std::string> header = {"SERVICE"};
    for (const auto& env : environments) header.push_back(env["name"]);
    Table table(header);
    for (const auto& s : (*services)["services"]) {
      std::vector<std::string> row = {s["name"]};
      for (const auto& env : environments) {
        json cell;
        for (const auto& d : env["live"]) {
          if (d["service"] == s["name"]) cell = d;
        }
        row.push_back(Cell(cell));
      }
      table.AddRow(row);
    }
    table.Print(std::cout);
    PrintHolds(api(), &exit_code);
  });

  // lock SERVICE --env ENV --reason TEXT [--expires 2h] / unlock SERVICE --env ENV
  auto* lock = app.add_subcommand("lock", "stop promotions of a service into an environment");
  std::string lock_service, lock_env, lock_reason, lock_expires;
  lock->add_option("service", lock_service, "service")->required();
  lock->add_option("--env", lock_env, "environment")->required();
  lock->add_option("--reason", lock_reason, "why (shown to whoever is refused)")->required();
  lock->add_option("--expires", lock_expires, "lift the lock after this long (e.g. 2h)");
  lock->callback([&] {
    json body = {{"service", lock_service}, {"environment", lock_env}, {"reason", lock_reason}};
    if (!lock_expires.empty()) body["expires_in"] = lock_expires;
    auto reply = Call(api().Post("/v1/locks", body.dump()), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    std::cout << lock_service << " locked in " << lock_env
              << ((*reply)["expires_at"].is_string()
                      ? " until " + (*reply)["expires_at"].get<std::string>()
                      : std::string())
              << "\n";
  });
  auto* unlock = app.add_subcommand("unlock", "lift the lock of a service in an environment");
  std::string unlock_service, unlock_env;
  unlock->add_option("service", unlock_service, "service")->required();
  unlock->add_option("--env", unlock_env, "environment")->required();
  unlock->callback([&] {
    auto reply =
        Call(api().Delete("/v1/locks/" + UrlEncode(unlock_service) + "/" + UrlEncode(unlock_env)),
             &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    std::cout << unlock_service << " unlocked in " << unlock_env << "\n";
  });

  // freeze ENV --until TIME --reason TEXT / unfreeze ENV
  auto* freeze = app.add_subcommand("freeze", "stop promotions into an environment until a time");
  std::string freeze_env, freeze_until, freeze_reason;
  freeze->add_option("env", freeze_env, "environment")->required();
  freeze->add_option("--until", freeze_until, "UTC end, e.g. 2026-11-27T18:00Z")->required();
  freeze->add_option("--reason", freeze_reason, "why (shown to whoever is refused)")->required();
  freeze->callback([&] {
    json body = {{"environment", freeze_env}, {"until", freeze_until}, {"reason", freeze_reason}};
    auto reply = Call(api().Post("/v1/freezes", body.dump()), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    std::cout << freeze_env << " frozen until " << (*reply)["until"].get<std::string>() << "\n";
  });
  auto* unfreeze = app.add_subcommand("unfreeze", "end an environment's ad-hoc freeze");
  std::string unfreeze_env;
  unfreeze->add_option("env", unfreeze_env, "environment")->required();
  unfreeze->callback([&] {
    auto reply = Call(api().Delete("/v1/freezes/" + UrlEncode(unfreeze_env)), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    std::cout << unfreeze_env << " unfrozen\n";
  });

  // can-i-deploy SERVICE@VERSION --to ENV
  auto* can = app.add_subcommand("can-i-deploy",
                                 "would promoting this version break anything? exit 0 yes, 1 no, "
                                 "2 unknown");
  std::string can_ref, can_env, can_wait, can_override;
  can->add_option("ref", can_ref, "SERVICE@VERSION")->required();
  can->add_option("--to", can_env, "environment")->required();
  can->add_option("--wait", can_wait,
                  "while the version is not registered, keep asking this long (e.g. 5m)");
  can->add_option("--override-reason", can_override, "evaluate as an audited lifecycle override");
  can->callback([&] {
    auto ref = SplitRef(can_ref);
    if (!ref.ok()) {
      exit_code = Fail(ref.error().message());
      return;
    }
    std::optional<int64_t> wait_ms = 0;
    if (!can_wait.empty() && !(wait_ms = ParseDurationMs(can_wait))) {
      exit_code = Fail("--wait \"" + can_wait + "\" is not a duration such as 30s or 5m");
      return;
    }
    std::string path = "/v1/can-i-deploy?" + QueryFor(ref->first, ref->second, can_env);
    if (!can_override.empty()) path += "&override_reason=" + UrlEncode(can_override);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(*wait_ms);
    std::optional<json> reply;
    while (true) {
      reply = Call(api().Get(path), &exit_code);
      if (!reply) return;
      if ((*reply)["decision"] != "unknown" || std::chrono::steady_clock::now() >= deadline) break;
      SleepMs(1000);
    }
    const std::string decision = (*reply)["decision"];
    exit_code = decision == "yes" ? kExitYes : decision == "no" ? kExitNo : kExitUnknown;
    if (globals.json()) return PrintJson(*reply);
    std::cout << decision << ": " << (*reply)["summary"].get<std::string>() << "\n";
    PrintReasons(*reply);
  });

  // plan SERVICE@VERSION --to ENV
  auto* plan =
      app.add_subcommand("plan", "what must be promoted first (providers, consumer upgrades)");
  std::string plan_ref, plan_env;
  plan->add_option("ref", plan_ref, "SERVICE@VERSION")->required();
  plan->add_option("--to", plan_env, "environment")->required();
  plan->callback([&] {
    auto ref = SplitRef(plan_ref);
    if (!ref.ok()) {
      exit_code = Fail(ref.error().message());
      return;
    }
    auto reply =
        Call(api().Get("/v1/plan?" + QueryFor(ref->first, ref->second, plan_env)), &exit_code);
    if (!reply) return;
    const bool possible = (*reply)["possible"].get<bool>();
    exit_code = possible ? kExitYes : kExitNo;
    if (globals.json()) return PrintJson(*reply);
    if (!possible) {
      std::cout << "no plan: " << plan_ref << " cannot go to " << plan_env << "\n";
      for (const auto& problem : (*reply)["problems"]) {
        std::cout << "  x " << problem.value("kind", std::string()) << ": "
                  << problem.value("message", std::string()) << "\n";
      }
      return;
    }
    if ((*reply)["steps"].empty()) {
      std::cout << plan_ref << " is already live in " << plan_env << "\n";
      return;
    }
    Table table({"STEP", "PROMOTE", "TO", "WHY"});
    int step = 0;
    for (const auto& s : (*reply)["steps"]) {
      table.AddRow({std::to_string(++step),
                    s["service"].get<std::string>() + "@" + s["version"].get<std::string>(),
                    s["environment"], s["reason"]});
    }
    table.Print(std::cout);
    PrintReasons(json{{"warnings", (*reply)["verdict"].value("warnings", json::array())}});
  });

  // promote SERVICE@VERSION --to ENV
  auto* promote = app.add_subcommand("promote", "promote a version into an environment");
  std::string promote_ref, promote_env, promote_override, promote_timeout = "30m";
  bool promote_wait = false;
  bool promote_override_freeze = false;
  std::string promote_freeze_reason;
  promote->add_option("ref", promote_ref, "SERVICE@VERSION")->required();
  promote->add_option("--to", promote_env, "environment")->required();
  promote->add_option("--override-reason", promote_override,
                      "override the lifecycle rule (after, soak); needs override:ENV; audited");
  promote->add_flag("--override-freeze", promote_override_freeze,
                    "the hotfix lane: promote during a freeze (not past a lock); needs "
                    "override:ENV and --reason; audited");
  promote->add_option("--reason", promote_freeze_reason, "with --override-freeze: why");
  promote->add_flag("--wait", promote_wait, "wait until the rollout ends");
  promote->add_option("--timeout", promote_timeout, "with --wait: give up after (default 30m)");
  promote->callback([&] {
    auto ref = SplitRef(promote_ref);
    if (!ref.ok()) {
      exit_code = Fail(ref.error().message());
      return;
    }
    auto timeout_ms = ParseDurationMs(promote_timeout);
    if (!timeout_ms) {
      exit_code = Fail("--timeout \"" + promote_timeout + "\" is not a duration such as 30m");
      return;
    }
    json body = {{"service", ref->first}, {"version", ref->second}, {"environment", promote_env}};
    if (!promote_override.empty()) body["override_reason"] = promote_override;
    if (promote_override_freeze) body["override_freeze"] = true;
    if (!promote_freeze_reason.empty()) body["override_freeze_reason"] = promote_freeze_reason;
    auto response = api().Post("/v1/promotions", body.dump());
    if (response.ok() && response->status == 409 && response->body.is_object() &&
        response->body["error"].value("code", std::string()) == "blocked") {
      exit_code = kExitNo;
      if (globals.json()) return PrintJson(response->body);
      std::cout << "blocked: " << ErrorMessage(*response) << "\n";
      PrintReasons(response->body["error"]["details"]);
      std::cout << "see what to promote first: shipctl plan " << promote_ref << " --to "
                << promote_env << "\n";
      return;
    }
    if (response.ok() && response->status == 409) {
      // Refused by a lock or a freeze: a "no" like a blocked promotion, not an error.
      exit_code = kExitNo;
      if (globals.json()) return PrintJson(response->body);
      std::cout << "refused: " << ErrorMessage(*response) << "\n";
      return;
    }
    auto reply = Call(std::move(response), &exit_code);
    if (!reply) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(*timeout_ms);
    const int64_t id = (*reply)["id"];
    const std::string label =
        "promotion #" + std::to_string(id) + ": " + promote_ref + " -> " + promote_env + ": ";
    if (!promote_wait) {
      const bool finished = (*reply)["finished_at"].is_number();
      exit_code = finished ? ExitCodeOfState((*reply)["state"], true) : kExitYes;
      if (globals.json()) return PrintJson(*reply);
      std::cout << label << (*reply)["state"].get<std::string>() << "\n";
      PrintReasons(json{{"warnings", (*reply)["verdict"].value("warnings", json::array())}});
      if (!finished) std::cout << "follow it with: shipctl rollout get " << id << "\n";
      return;
    }
    if (!globals.json()) {
      std::cout << label << (*reply)["state"].get<std::string>() << std::endl;
      PrintReasons(json{{"warnings", (*reply)["verdict"].value("warnings", json::array())}});
    }
    auto final_state = FollowRollout(api(), id, deadline, globals.json(), &exit_code);
    if (!final_state) return;
    const std::string state = (*final_state)["state"];
    const bool finished = (*final_state)["finished_at"].is_number();
    exit_code = ExitCodeOfState(state, finished);
    if (!finished) {
      // Scripts read stdout as JSON with -o json; the note goes to stderr then.
      std::ostream& out = globals.json() ? std::cerr : std::cout;
      const json& progress = (*final_state)["progress"];
      out << "timed out after " << promote_timeout << ": rollout #" << id << " is still " << state
          << " (" << progress.value("phase", std::string("?")) << ", step " << StepOf(progress)
          << ")\nfollow it with: shipctl rollout get " << id << "\n";
    }
    if (globals.json()) return PrintJson(*final_state);
    if (finished) std::cout << label << state << "\n";
  });

  // rollout get|approve|resume|abort|rollback ID
  auto* rollout = app.add_subcommand("rollout", "inspect and steer rollouts (promotions)");
  rollout->require_subcommand(1);
  auto* rollout_get =
      rollout->add_subcommand("get", "one rollout: state, phase, step, weight and its history");
  int64_t rollout_id = 0;
  std::string rollout_reason;
  rollout_get->add_option("id", rollout_id, "promotion id")->required();
  rollout_get->callback([&] {
    auto reply = Call(api().Get("/v1/promotions/" + std::to_string(rollout_id)), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    const json& progress = (*reply)["progress"];
    std::cout << "promotion #" << rollout_id << ": " << (*reply)["service"].get<std::string>()
              << "@" << (*reply)["version"].get<std::string>() << " -> "
              << (*reply)["environment"].get<std::string>() << "\n"
              << "state:        " << (*reply)["state"].get<std::string>() << "\n";
    if (progress.is_object()) {
      std::cout << "phase:        " << progress.value("phase", std::string("-")) << "\n"
                << "step:         " << StepOf(progress)
                << (progress.value("strategy", std::string()).empty()
                        ? ""
                        : " (strategy " + progress["strategy"].get<std::string>() + ")")
                << "\n"
                << "weight:       " << progress.value("weight", 0) << "%\n";
      if (!progress.value("reason", std::string()).empty()) {
        std::cout << "reason:       " << progress["reason"].get<std::string>() << "\n";
      }
      if (progress.value("behind", int64_t{0}) > 0) {
        std::cout << "behind:       rollout #" << progress["behind"].get<int64_t>() << "\n";
      }
    }
    std::cout << "requested by: " << (*reply)["requested_by"].get<std::string>() << " at "
              << FormatTime((*reply)["created_at"].get<int64_t>()) << "\n";
    if (!(*reply)["override_reason"].get<std::string>().empty()) {
      std::cout << "override:     " << (*reply)["override_reason"].get<std::string>() << "\n";
    }
    if (reply->value("override_freeze", false)) {
      std::cout << "hotfix:       freeze overridden: "
                << reply->value("override_freeze_reason", std::string()) << "\n";
    }
    for (const auto& a : reply->value("approvals", json::array())) {
      const int64_t step = a.value("step", int64_t{-1});
      std::cout << "approved by:  " << a.value("approver", std::string("?")) << " ("
                << JoinText(a.value("roles", json::array())) << ") at "
                << FormatTime(a.value("approved_at", int64_t{0}))
                << (step < 0 ? ", before the start" : ", step " + std::to_string(step + 1))
                << (a.value("reason", std::string()).empty()
                        ? ""
                        : ": " + a["reason"].get<std::string>())
                << "\n";
    }
    const json events = reply->value("events", json::array());
    if (events.empty()) return;
    std::cout << "\n";
    Table table({"ID", "TIME (UTC)", "ACTOR", "EVENT", "DETAIL"});
    for (const auto& e : events) {
      table.AddRow({std::to_string(e["id"].get<int64_t>()), FormatTime(e["time"].get<int64_t>()),
                    e["actor"], e["kind"], DescribeEvent(e, StepsOf(*reply))});
    }
    table.Print(std::cout);
  });
  auto* rollout_list = rollout->add_subcommand(
      "list", "rollouts, newest first (what needs a person: --state paused)");
  std::string rollouts_service, rollouts_env, rollouts_state;
  int rollouts_limit = 20;
  rollout_list->add_option("--service", rollouts_service, "only this service");
  rollout_list->add_option("--env", rollouts_env, "only this environment");
  rollout_list->add_option("--state", rollouts_state,
                           "only this state: queued, waiting, progressing, paused, succeeded, "
                           "rolled_back, failed, aborted");
  rollout_list->add_option("--limit", rollouts_limit, "at most this many (default 20)");
  rollout_list->callback([&] {
    std::string path = "/v1/promotions?limit=" + std::to_string(rollouts_limit);
    if (!rollouts_service.empty()) path += "&service=" + rollouts_service;
    if (!rollouts_env.empty()) path += "&environment=" + rollouts_env;
    if (!rollouts_state.empty()) path += "&state=" + rollouts_state;
    auto reply = Call(api().Get(path), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    Table table({"ID", "ROLLOUT", "TO", "STATE", "STEP", "WEIGHT", "REASON"});
    for (const auto& p : reply->value("promotions", json::array())) {
      const json progress = p.value("progress", json::object());
      table.AddRow({std::to_string(p["id"].get<int64_t>()),
                    p["service"].get<std::string>() + "@" + p["version"].get<std::string>(),
                    p["environment"], p["state"], StepOf(progress),
                    std::to_string(progress.value("weight", 0)) + "%",
                    progress.value("reason", std::string())});
    }
    table.Print(std::cout);
  });
  for (const char* action : {"approve", "resume", "abort", "rollback"}) {
    const std::string name = action;
    const std::string help =
        name == "approve"  ? "approve a rollout waiting at an approve step (needs approve:ENV)"
        : name == "resume" ? "resume a paused rollout"
        : name == "abort"  ? "abort a rollout: the canary is removed"
                           : "roll a rollout back (retries a failed rollback)";
    auto* command = rollout->add_subcommand(name, help);
    command->add_option("id", rollout_id, "promotion id")->required();
    command->add_option("--reason", rollout_reason, "why; recorded in the journal");
    command->callback([&, name] {
      json body = json::object();
      if (!rollout_reason.empty()) body["reason"] = rollout_reason;
      auto reply =
          Call(api().Post("/v1/promotions/" + std::to_string(rollout_id) + "/" + name, body.dump()),
               &exit_code);
      if (!reply) return;
      if (globals.json()) return PrintJson(*reply);
      const json& progress = (*reply)["progress"];
      std::cout << "promotion #" << rollout_id << ": " << (*reply)["service"].get<std::string>()
                << "@" << (*reply)["version"].get<std::string>() << " -> "
                << (*reply)["environment"].get<std::string>() << ": "
                << (reply->contains("message") ? (*reply)["message"].get<std::string>() + ", " : "")
                << (*reply)["state"].get<std::string>();
      if (progress.is_object() && !(*reply)["finished_at"].is_number()) {
        std::cout << " (" << progress.value("phase", std::string("-")) << ", step "
                  << StepOf(progress) << ")";
      }
      std::cout << "\n";
    });
  }

  // audit verify
  // token list / token revoke NAME (admin)
  auto* token_cmd = app.add_subcommand("token", "API tokens (admin): list them, revoke one");
  token_cmd->require_subcommand(1);
  auto* token_list = token_cmd->add_subcommand("list", "every token's name, roles and age");
  token_list->callback([&] {
    auto reply = Call(api().Get("/v1/tokens"), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    Table table({"TOKEN", "ROLES", "CREATED"});
    for (const auto& t : (*reply)["tokens"]) {
      std::string roles;
      for (const auto& role : t["roles"]) {
        roles += (roles.empty() ? "" : ", ") + role.get<std::string>();
      }
      table.AddRow({t.value("name", std::string()), roles, t.value("created_at", std::string())});
    }
    table.Print(std::cout);
  });
  auto* token_revoke =
      token_cmd->add_subcommand("revoke", "revoke a token: it stops working at once");
  std::string revoke_name;
  token_revoke->add_option("name", revoke_name, "token name")->required();
  token_revoke->callback([&] {
    auto reply = Call(api().Delete("/v1/tokens/" + UrlEncode(revoke_name)), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    std::cout << "token " << revoke_name << " revoked\n";
  });

  // train create|board|leave|depart|status|list
  auto* train =
      app.add_subcommand("train", "release trains: versions that travel a route together");
  train->require_subcommand(1);
  auto* train_create = train->add_subcommand("create", "create a train (idempotent)");
  std::string train_name, train_route, train_cadence, train_timezone = "UTC", train_cutoff;
  train_create->add_option("name", train_name, "train name")->required();
  train_create->add_option("--route", train_route, "environments in order, e.g. staging,prod")
      ->required();
  train_create->add_option("--cadence", train_cadence,
                           "departs by itself at this cron schedule, e.g. \"0 10 * * TUE\"");
  train_create->add_option("--timezone", train_timezone, "IANA zone of the cadence (default UTC)");
  train_create->add_option("--cutoff", train_cutoff,
                           "boarding closes this long before a scheduled departure, e.g. 2h");
  train_create->callback([&] {
    json body = {{"name", train_name}, {"route", train_route}, {"timezone", train_timezone}};
    if (!train_cadence.empty()) body["cadence"] = train_cadence;
    if (!train_cutoff.empty()) body["cutoff"] = train_cutoff;
    auto reply = Call(api().Post("/v1/trains", body.dump()), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    PrintTrain(*reply);
  });

  auto* train_board = train->add_subcommand("board", "board cars (judged together by the gate)");
  std::vector<std::string> board_refs;
  train_board->add_option("name", train_name, "train name")->required();
  train_board->add_option("cars", board_refs, "SERVICE@VERSION ...")->required();
  train_board->callback([&] {
    json cars = json::array();
    for (const auto& ref : board_refs) cars.push_back(ref);
    auto response =
        api().Post("/v1/trains/" + UrlEncode(train_name) + "/cars", json{{"cars", cars}}.dump());
    if (response.ok() && response->status == 409 && response->body.is_object() &&
        response->body["error"].value("code", std::string()) == "blocked") {
      exit_code = kExitNo;
      if (globals.json()) return PrintJson(response->body);
      std::cout << "refused: " << ErrorMessage(*response) << "\n";
      for (const auto& env :
           response->body["error"]["details"].value("environments", json::array())) {
        std::cout << " in " << env.value("environment", std::string()) << ":\n";
        PrintReasons(env["verdict"]);
      }
      return;
    }
    auto reply = Call(std::move(response), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    PrintTrain(*reply);
  });

  auto* train_leave = train->add_subcommand("leave", "take a car off the boarding trip");
  std::string leave_service;
  train_leave->add_option("name", train_name, "train name")->required();
  train_leave->add_option("service", leave_service, "service")->required();
  train_leave->callback([&] {
    auto reply = Call(
        api().Delete("/v1/trains/" + UrlEncode(train_name) + "/cars/" + UrlEncode(leave_service)),
        &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    PrintTrain(*reply);
  });

  auto* train_depart =
      train->add_subcommand("depart", "depart now: promote the cars along the route");
  bool depart_wait = false;
  std::string depart_timeout = "2h";
  train_depart->add_option("name", train_name, "train name")->required();
  train_depart->add_flag("--wait", depart_wait, "wait until the train arrives");
  train_depart->add_option("--timeout", depart_timeout, "with --wait: give up after (default 2h)");
  train_depart->callback([&] {
    auto timeout_ms = ParseDurationMs(depart_timeout);
    if (!timeout_ms) {
      exit_code = Fail("--timeout \"" + depart_timeout + "\" is not a duration such as 2h");
      return;
    }
    auto ready = Call(api().Get("/readyz"), &exit_code);
    if (!ready) return;
    const int64_t after = ready->value("last_event_id", int64_t{0});
    auto reply =
        Call(api().Post("/v1/trains/" + UrlEncode(train_name) + "/depart", "{}"), &exit_code);
    if (!reply) return;
    // The departed trip: the newest one that is not boarding.
    json trip;
    for (const auto& t : (*reply)["trips"]) {
      if (t.value("state", std::string()) != "boarding") {
        trip = t;
        break;
      }
    }
    const int64_t number = trip.is_object() ? trip.value("number", int64_t{0}) : 0;
    if (!depart_wait) {
      if (globals.json()) return PrintJson(*reply);
      std::cout << train_name << " trip " << number << " departed\n";
      PrintTrain(*reply);
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(*timeout_ms);
    auto final_train =
        FollowTrain(api(), train_name, number, after, deadline, globals.json(), &exit_code);
    if (!final_train) return;
    exit_code = TrainExitCode(*final_train, number);
    if (exit_code == kExitUnknown) {
      std::ostream& out = globals.json() ? std::cerr : std::cout;
      out << "timed out after " << depart_timeout << ": " << train_name << " trip " << number
          << " is still travelling\nfollow it with: shipctl train status " << train_name << "\n";
    }
    if (globals.json()) return PrintJson(*final_train);
    PrintTrain(*final_train);
  });

  auto* train_status = train->add_subcommand("status", "a train: its trips and their cars");
  train_status->add_option("name", train_name, "train name")->required();
  train_status->callback([&] {
    auto reply = Call(api().Get("/v1/trains/" + UrlEncode(train_name)), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    PrintTrain(*reply);
  });

  auto* train_list = train->add_subcommand("list", "every train and its latest trip");
  train_list->callback([&] {
    auto reply = Call(api().Get("/v1/trains"), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    Table table({"TRAIN", "ROUTE", "CADENCE", "NEXT DEPARTURE", "LATEST TRIP"});
    for (const auto& t : (*reply)["trains"]) {
      std::string route;
      for (const auto& env : t["route"])
        route += (route.empty() ? "" : ",") + env.get<std::string>();
      std::string latest = "-";
      if (!t["trips"].empty()) {
        latest = std::to_string(t["trips"][0].value("number", int64_t{0})) + " " +
                 t["trips"][0].value("state", std::string());
      }
      table.AddRow({t.value("name", std::string()), route,
                    t["cadence"].is_string() ? t["cadence"].get<std::string>() : "-",
                    t["next_departure"].is_string() ? t["next_departure"].get<std::string>() : "-",
                    latest});
    }
    table.Print(std::cout);
  });

  auto* audit = app.add_subcommand("audit", "the audit log: the hash-chained journal");
  audit->require_subcommand(1);
  auto* audit_verify = audit->add_subcommand(
      "verify", "check the journal's hash chain: exit 0 intact, 1 tampered, 3 error");
  std::string audit_head;
  audit_verify->add_option("--head", audit_head,
                           "ID:HASH of a head exported earlier (head_id:head_hash of -o json): "
                           "that event must still carry that hash");
  audit_verify->callback([&] {
    std::string path = "/v1/audit/verify";
    if (!audit_head.empty()) {
      const auto colon = audit_head.find(':');
      if (colon == std::string::npos) {
        exit_code = Fail("--head \"" + audit_head + "\" must be ID:HASH");
        return;
      }
      path += "?head_id=" + UrlEncode(audit_head.substr(0, colon)) +
              "&head_hash=" + UrlEncode(audit_head.substr(colon + 1));
    }
    auto reply = Call(api().Get(path), &exit_code);
    if (!reply) return;
    const bool ok = reply->value("ok", false);
    exit_code = ok ? kExitYes : kExitNo;
    if (globals.json()) return PrintJson(*reply);
    if (ok) {
      std::cout << "audit chain intact: " << (*reply)["checked"].get<int64_t>()
                << " events checked";
      if ((*reply)["legacy"].get<int64_t>() > 0) {
        std::cout << " (" << (*reply)["legacy"].get<int64_t>()
                  << " older events predate the chain)";
      }
      std::cout << "\n";
      if ((*reply)["head_id"].get<int64_t>() > 0) {
        std::cout << "head: event " << (*reply)["head_id"].get<int64_t>() << " "
                  << (*reply)["head_hash"].get<std::string>() << "\n";
      }
      return;
    }
    std::cout << "audit chain BROKEN at event " << (*reply)["first_bad_id"].get<int64_t>() << ": "
              << (*reply)["reason"].get<std::string>() << "\n"
              << "(" << (*reply)["checked"].get<int64_t>() << " events before it verified)\n";
  });

  // graph [--env ENV] [--format dot|json]
  auto* graph = app.add_subcommand("graph", "the dependency graph of what is live");
  std::string graph_env, graph_format = "table";
  graph->add_option("--env", graph_env, "only this environment");
  graph->add_option("--format", graph_format, "table, dot or json")
      ->check(CLI::IsMember({"table", "dot", "json"}));
  graph->callback([&] {
    const std::string format = graph_format == "dot" ? "dot" : "json";
    std::string path = "/v1/graph?format=" + format;
    if (!graph_env.empty()) path += "&environment=" + UrlEncode(graph_env);
    auto reply = Call(api().Get(path), &exit_code);
    if (!reply) return;
    if (format == "dot") {
      std::cout << (reply->is_string() ? reply->get<std::string>() : reply->dump());
      return;
    }
    if (globals.json() || graph_format == "json") return PrintJson(*reply);
    json graphs = reply->contains("graphs") ? (*reply)["graphs"] : json::array({*reply});
    Table table({"ENVIRONMENT", "CONSUMER", "API", "RANGE", "PROVIDER", "OK"});
    for (const auto& g : graphs) {
      for (const auto& e : g["edges"]) {
        table.AddRow(
            {g["environment"], e["from"], e["api"], e["range"],
             e["to"].is_string() ? e["to"].get<std::string>() : "(none)",
             e["satisfied"].get<bool>() ? "yes" : (e["optional"].get<bool>() ? "optional" : "NO")});
      }
    }
    table.Print(std::cout);
  });

  // api diff OLD NEW
  auto* api_cmd = app.add_subcommand("api", "OpenAPI tools");
  api_cmd->require_subcommand(1);
  auto* diff = api_cmd->add_subcommand("diff", "breaking changes from OLD to NEW (exit 1 if any)");
  std::string diff_old, diff_new;
  diff->add_option("old", diff_old, "the old OpenAPI document (YAML or JSON)")->required();
  diff->add_option("new", diff_new, "the new OpenAPI document")->required();
  diff->callback([&] {
    json docs[2];
    for (int i = 0; i < 2; ++i) {
      const std::string& file = i == 0 ? diff_old : diff_new;
      auto text = ReadFile(file);
      if (!text.ok()) {
        exit_code = Fail(text.error().message());
        return;
      }
      auto doc = YamlToJson(*text, {.numbers_as_strings = false});
      if (!doc.ok()) {
        exit_code = Fail(doc.error().WithContext(file).message());
        return;
      }
      docs[i] = std::move(doc).value();
    }
    auto result = DiffOpenApi(docs[0], docs[1], {.now_ms = NowMs()});
    if (!result.ok()) {
      exit_code = Fail(result.error().message());
      return;
    }
    exit_code = result->breaking() ? kExitNo : kExitYes;
    if (globals.json()) return PrintJson(OpenApiDiffToJson(*result));
    if (result->findings.empty()) {
      std::cout << "no changes that matter to clients\n";
      return;
    }
    for (const auto& f : result->findings) {
      std::cout << (f.severity == OpenApiDiff::Severity::kBreaking ? "breaking " : "warning  ")
                << f.rule << "  " << f.method << (f.method.empty() ? "" : " ") << f.path << "\n    "
                << f.message << "\n    at " << f.pointer << "\n";
    }
  });

  // repo list / sync
  auto* repo = app.add_subcommand("repo", "the Git repositories tags are registered from");
  repo->require_subcommand(1);
  auto* repo_list = repo->add_subcommand("list", "configured repositories");
  repo_list->callback([&] {
    auto reply = Call(api().Get("/v1/repositories"), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    Table table({"SERVICE", "URL", "TAGS", "MANIFEST", "PROMOTE TO", "WEBHOOK"});
    for (const auto& r : (*reply)["repositories"]) {
      table.AddRow({r["service"], r["url"], r["tag_pattern"], r["manifest"],
                    r["promote_to"].get<std::string>().empty() ? "-" : r["promote_to"],
                    r["webhook_secret"].get<bool>() ? "signed" : "no secret"});
    }
    table.Print(std::cout);
  });
  auto* repo_sync = repo->add_subcommand("sync", "register every tag not registered yet, now");
  std::string sync_service;
  repo_sync->add_option("service", sync_service, "service name")->required();
  repo_sync->callback([&] {
    auto reply =
        Call(api().Post("/v1/repositories/" + UrlEncode(sync_service) + "/sync", "{}"), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    if ((*reply)["outcomes"].empty()) {
      std::cout << "every version tag of " << sync_service << " is registered\n";
      return;
    }
    Table table({"TAG", "VERSION", "OUTCOME", "MESSAGE"});
    for (const auto& o : (*reply)["outcomes"]) {
      table.AddRow({o["tag"], o["version"], o["status"], o["message"]});
    }
    table.Print(std::cout);
  });

  // whoami
  auto* whoami = app.add_subcommand("whoami", "the token in use, its roles and what they permit");
  whoami->callback([&] {
    auto reply = Call(api().Get("/v1/whoami"), &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    auto join = [](const json& list) {
      std::string text;
      for (const auto& item : list) text += (text.empty() ? "" : ", ") + item.get<std::string>();
      return text.empty() ? std::string("-") : text;
    };
    Table table({"TOKEN", "ROLES", "PERMISSIONS"});
    table.AddRow({(*reply)["token"], join((*reply)["roles"]), join((*reply)["permissions"])});
    table.Print(std::cout);
  });

  // events
  auto* events = app.add_subcommand("events", "the journal of everything that happened");
  int64_t after = 0;
  int limit = 100;
  bool follow = false;
  events->add_option("--after", after, "only events with a larger id");
  events->add_option("--limit", limit, "at most this many (1..1000)");
  events->add_flag("-f,--follow", follow, "keep printing new events as they happen");
  events->callback([&] {
    bool header = !globals.json();
    while (true) {
      std::string path =
          "/v1/events?after=" + std::to_string(after) + "&limit=" + std::to_string(limit);
      if (follow) path += "&wait_ms=30000";
      auto reply = Call(api().Get(path), &exit_code);
      if (!reply) return;
      if (globals.json() && !follow) return PrintJson(*reply);
      Table table({"ID", "TIME (UTC)", "ACTOR", "EVENT", "SUBJECT"});
      for (const auto& e : (*reply)["events"]) {
        if (globals.json()) {
          std::cout << e.dump() << std::endl;  // one JSON object per line
          continue;
        }
        table.AddRow({std::to_string(e["id"].get<int64_t>()), FormatTime(e["time"].get<int64_t>()),
                      e["actor"], e["kind"], e["subject"]});
      }
      if (!globals.json() && (header || !table.empty())) {
        table.Print(std::cout, header);
        std::cout.flush();
        header = false;
      }
      after = (*reply)["next_after"].get<int64_t>();
      if (!follow) return;
    }
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitError;
  } catch (const std::exception& e) {
    // An answer of an unexpected shape, e.g. from a server of another version.
    return Fail(std::string("unexpected response from ") + server + ": " + e.what());
  }
  return exit_code;
}

}  // namespace shipd::cli

int main(int argc, char** argv) { return shipd::cli::Main(argc, argv); }
