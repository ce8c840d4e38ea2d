// shipctl: the command-line client of shipd. A thin REST client: it sends requests, prints
// tables (or JSON with -o json) and exits 0 yes/succeeded, 1 no, 2 unknown, 3 error.

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "client.h"
#include "output.h"
#include "shipd/common/yaml_json.h"

namespace shipd::cli {
namespace {

using nlohmann::json;

constexpr int kExitYes = 0;
constexpr int kExitError = 3;

struct Globals {
  std::string output = "table";
  bool json() const { return output == "json"; }
};

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
  auto* version_register = version->add_subcommand("register", "register SERVICE@VERSION");
  std::string version_ref, manifest_file, artifact, commit;
  version_register->add_option("ref", version_ref, "SERVICE@VERSION")->required();
  version_register->add_option("-f,--file", manifest_file, "ship.yaml manifest")->required();
  version_register->add_option("--artifact", artifact, "artifact reference (overrides ship.yaml)");
  version_register->add_option("--commit", commit, "git commit id");
  version_register->callback([&] {
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
  });

  // events
  auto* events = app.add_subcommand("events", "the journal of everything that happened");
  int64_t after = 0;
  int limit = 100;
  events->add_option("--after", after, "only events with a larger id");
  events->add_option("--limit", limit, "at most this many (1..1000)");
  events->callback([&] {
    auto reply = Call(
        api().Get("/v1/events?after=" + std::to_string(after) + "&limit=" + std::to_string(limit)),
        &exit_code);
    if (!reply) return;
    if (globals.json()) return PrintJson(*reply);
    Table table({"ID", "TIME (UTC)", "ACTOR", "EVENT", "SUBJECT"});
    for (const auto& e : (*reply)["events"]) {
      table.AddRow({std::to_string(e["id"].get<int64_t>()), FormatTime(e["time"].get<int64_t>()),
                    e["actor"], e["kind"], e["subject"]});
    }
    table.Print(std::cout);
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
