// demo-traffic: steady requests through the front door (the local driver's weighted proxy,
// `stable_url`) of every service live in the chosen environments, as users would send them, so
// that canaries carry traffic for the `traffic` check to judge. Asks shipd once a second what is
// live where; prints a line per second with what it sent and how it went.
//
//   demo-traffic --server http://127.0.0.1:7700 --token TOKEN [--rps 40] [--env staging,prod]
//
// SHIP_SERVER and SHIP_TOKEN are read when the flags are absent. Runs until killed.
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string server;
  std::string token;
  int rps = 40;  // per service × environment
  std::set<std::string> environments;
};

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

bool Parse(int argc, char** argv, Options& options) {
  options.server = Env("SHIP_SERVER");
  options.token = Env("SHIP_TOKEN");
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (arg == "--server") {
      options.server = value;
    } else if (arg == "--token") {
      options.token = value;
    } else if (arg == "--rps") {
      options.rps = std::atoi(value.c_str());
    } else if (arg == "--env") {
      std::stringstream list(value);
      for (std::string env; std::getline(list, env, ',');) options.environments.insert(env);
    } else {
      return false;
    }
  }
  return !options.server.empty() && options.rps > 0;
}

// service/environment -> front door URL, for what is live now.
std::map<std::string, std::string> FrontDoors(httplib::Client& shipd, const Options& options) {
  std::map<std::string, std::string> doors;
  auto reply = shipd.Get("/v1/environments");
  if (!reply || reply->status != 200) return doors;
  auto body = nlohmann::json::parse(reply->body, nullptr, false);
  if (!body.is_object()) return doors;
  for (const auto& env : body.value("environments", nlohmann::json::array())) {
    const std::string name = env.value("name", "");
    if (!options.environments.empty() && options.environments.count(name) == 0) continue;
    for (const auto& live : env.value("live", nlohmann::json::array())) {
      if (!live.contains("urls")) continue;
      const std::string url = live["urls"].value("stable_url", "");
      if (!url.empty()) doors[live.value("service", "") + "/" + name] = url;
    }
  }
  return doors;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!Parse(argc, argv, options)) {
    std::cerr << "usage: demo-traffic --server URL --token TOKEN [--rps N] [--env a,b]\n";
    return 3;
  }
  httplib::Client shipd(options.server);
  shipd.set_bearer_token_auth(options.token);
  shipd.set_connection_timeout(std::chrono::seconds(2));

  std::map<std::string, std::unique_ptr<httplib::Client>> clients;  // by URL, kept alive
  std::map<std::string, std::string> doors;
  const auto interval = std::chrono::microseconds(1'000'000 / options.rps);
  auto next_refresh = Clock::now();
  auto next_report = Clock::now() + std::chrono::seconds(5);
  std::map<std::string, std::pair<int, int>> counts;  // door -> requests, errors since report
  for (auto next = Clock::now();; next += interval) {
    if (Clock::now() >= next_refresh) {
      doors = FrontDoors(shipd, options);
      next_refresh = Clock::now() + std::chrono::seconds(1);
    }
    for (const auto& [door, url] : doors) {
      auto& client = clients[url];
      if (!client) {
        client = std::make_unique<httplib::Client>(url);
        client->set_keep_alive(true);
        client->set_connection_timeout(std::chrono::seconds(1));
        client->set_read_timeout(std::chrono::seconds(2));
      }
      auto reply = client->Get("/");
      auto& [requests, errors] = counts[door];
      ++requests;
      if (!reply || reply->status >= 500) ++errors;
    }
    if (Clock::now() >= next_report) {
      std::cout << "demo-traffic:";
      for (const auto& [door, count] : counts) {
        std::cout << " " << door << " " << count.first << " req " << count.second << " err;";
      }
      std::cout << std::endl;
      counts.clear();
      next_report = Clock::now() + std::chrono::seconds(5);
    }
    std::this_thread::sleep_until(next);
    if (Clock::now() > next + std::chrono::seconds(1)) next = Clock::now();  // fell behind
  }
}
