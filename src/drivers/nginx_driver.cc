// NginxDriver: keeps one weighted `upstream shipd_<service>_<environment>` block per service ×
// environment in a shared upstreams file, then runs the reload command. Artifacts are the
// versions' addresses ("host:port", an optional http:// is dropped): ctx.artifact the canary's,
// ctx.previous_artifact the stable's; either may be omitted when the file already records that
// version's address. Each block starts with a marker line that records the state, so Status()
// and Urls() read the file back and a restarted daemon sees what it wrote:
//
//   # shipd:begin orders prod stable=3.1.0@10.0.0.1:8080 canary=3.2.0@10.0.0.2:8080 weight=10
//   upstream shipd_orders_prod {
//       server 10.0.0.1:8080 weight=90;  # stable 3.1.0
//       server 10.0.0.2:8080 weight=10;  # canary 3.2.0
//   }
//   # shipd:end orders prod
//
// Lines outside the markers are kept. Writes are atomic (temporary file, fsync, rename, fsync of
// the directory) and serialised per file across all NginxDrivers of the process. The reload runs
// on every operation, also when the file did not change: a crash may have come between the two.
// When the reload fails, the file is put back as it was, since nginx still serves that.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <vector>

#include "driver_util.h"
#include "shipd/common/process.h"

namespace shipd {
namespace {

struct Member {
  std::string version;
  std::string address;  // host:port
};

struct Block {
  std::optional<Member> stable;
  std::optional<Member> canary;
  int weight = 0;  // the canary's share
};

constexpr std::string_view kBegin = "# shipd:begin ";
constexpr std::string_view kEnd = "# shipd:end ";

// No '_': it separates service and environment in the upstream name, and with it "a_b"/"c" and
// "a"/"b_c" would both be shipd_a_b_c. The model's names are [a-z0-9-] anyway.
bool NameOk(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      return false;
    }
  }
  return true;
}

// Versions end up in comments and markers: no whitespace, '@' or anything nginx would parse.
bool VersionOk(std::string_view version) {
  if (version.empty()) return false;
  for (char c : version) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' ||
          c == '_')) {
      return false;
    }
  }
  return true;
}

// "host:port", "[v6]:port" or "http://host:port/"; rejects anything that could inject nginx
// syntax.
Result<std::string> ParseAddress(std::string_view artifact, std::string_view what) {
  std::string_view text = artifact;
  if (text.rfind("http://", 0) == 0) text.remove_prefix(7);
  while (!text.empty() && text.back() == '/') text.remove_suffix(1);
  const auto colon = text.rfind(':');
  auto bad = [&] {
    return Error(ErrorCode::kInvalid, std::string(what) + " \"" + std::string(artifact) +
                                          "\" is not an address host:port");
  };
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return bad();
  const std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return bad();
  }
  if (port.size() > 5 || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
    return bad();
  }
  const bool v6 = host.size() > 2 && host.front() == '[' && host.back() == ']';
  for (char c : v6 ? host.substr(1, host.size() - 2) : host) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || (v6 && c == ':');
    if (!ok) return bad();
  }
  return std::string(text);
}

std::string Key(std::string_view service, std::string_view environment) {
  return std::string(service) + " " + std::string(environment);
}

std::string RenderMarker(const Block& block) {
  std::string out;
  if (block.stable) out += " stable=" + block.stable->version + "@" + block.stable->address;
  if (block.canary) out += " canary=" + block.canary->version + "@" + block.canary->address;
  out += " weight=" + std::to_string(block.weight);
  return out;
}

std::string RenderBlock(std::string_view service, std::string_view environment,
                        const Block& block) {
  std::ostringstream out;
  out << kBegin << Key(service, environment) << RenderMarker(block) << "\n"
      << "upstream shipd_" << service << "_" << environment << " {\n";
  const int canary_weight = block.stable ? block.weight : 100;
  const int stable_weight = block.canary ? 100 - block.weight : 100;
  if (block.stable && stable_weight > 0) {
    out << "    server " << block.stable->address << " weight=" << stable_weight << ";  # stable "
        << block.stable->version << "\n";
  }
  if (block.canary && canary_weight > 0) {
    out << "    server " << block.canary->address << " weight=" << canary_weight << ";  # canary "
        << block.canary->version << "\n";
  }
  out << "}\n" << kEnd << Key(service, environment) << "\n";
  return out.str();
}

std::optional<Block> ParseMarker(std::string_view rest) {
  Block block;
  std::istringstream words{std::string(rest)};
  std::string word;
  while (words >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) return std::nullopt;
    const std::string key = word.substr(0, eq);
    const std::string value = word.substr(eq + 1);
    if (key == "weight") {
      try {
        block.weight = std::stoi(value);
      } catch (const std::exception&) {
        return std::nullopt;
      }
    } else if (key == "stable" || key == "canary") {
      const auto at = value.find('@');
      if (at == std::string::npos) return std::nullopt;
      (key == "stable" ? block.stable : block.canary) =
          Member{value.substr(0, at), value.substr(at + 1)};
    }
  }
  return block;
}

// The upstreams file: text outside our blocks, and our blocks, in file order.
struct UpstreamsFile {
  struct Part {
    std::string key;   // "service environment"; empty for foreign text
    std::string text;  // verbatim, with its newlines
    std::optional<Block> block;
  };
  std::vector<Part> parts;

  static Result<UpstreamsFile> Parse(const std::string& text, const std::string& path) {
    UpstreamsFile file;
    std::istringstream in(text);
    std::string line;
    int number = 0;
    Part* open = nullptr;
    int open_line = 0;
    while (std::getline(in, line)) {
      ++number;
      const std::string with_newline = line + "\n";
      if (open == nullptr && line.rfind(kBegin, 0) == 0) {
        std::istringstream words(line.substr(kBegin.size()));
        std::string service;
        std::string environment;
        words >> service >> environment;
        std::string rest;
        std::getline(words, rest);
        file.parts.push_back({Key(service, environment), with_newline, ParseMarker(rest)});
        open = &file.parts.back();
        open_line = number;
        if (!open->block) {
          return Error(ErrorCode::kInvalid,
                       path + ":" + std::to_string(number) + ": unreadable shipd marker");
        }
      } else if (open != nullptr) {
        open->text += with_newline;
        if (line.rfind(kEnd, 0) == 0) {
          if (line.substr(kEnd.size()) != open->key) {
            return Error(ErrorCode::kInvalid, path + ":" + std::to_string(number) +
                                                  ": shipd:end does not match the block of line " +
                                                  std::to_string(open_line));
          }
          open = nullptr;
        }
      } else if (!file.parts.empty() && file.parts.back().key.empty()) {
        file.parts.back().text += with_newline;
      } else {
        file.parts.push_back({"", with_newline, std::nullopt});
      }
    }
    if (open != nullptr) {
      return Error(ErrorCode::kInvalid,
                   path + ":" + std::to_string(open_line) +
                       ": shipd:begin without shipd:end; fix the file by hand");
    }
    return file;
  }

  const Part* Find(const std::string& key) const {
    for (const Part& part : parts) {
      if (part.key == key) return &part;
    }
    return nullptr;
  }

  // Replaces (or appends, or with nullopt removes) the block of `service` in `environment`.
  void Set(std::string_view service, std::string_view environment,
           const std::optional<Block>& block) {
    const std::string key = Key(service, environment);
    for (auto it = parts.begin(); it != parts.end(); ++it) {
      if (it->key != key) continue;
      if (!block) {
        parts.erase(it);
      } else {
        it->text = RenderBlock(service, environment, *block);
        it->block = block;
      }
      return;
    }
    if (block) parts.push_back({key, RenderBlock(service, environment, *block), block});
  }

  std::string Text() const {
    std::string out;
    for (const Part& part : parts) out += part.text;
    return out;
  }
};

Result<std::string> ReadText(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return std::string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error(ErrorCode::kIo, "cannot read " + path.string() + ": " + std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Status WriteAtomically(const std::filesystem::path& path, const std::string& text) {
  static std::atomic<int> counter{0};
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  const std::filesystem::path temp =
      dir / ("." + path.filename().string() + ".shipd-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter++));
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp.c_str());
    return Error(ErrorCode::kIo, what + " " + temp.string() + ": " + reason);
  };
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail("cannot create");
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return fail("cannot write");
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return fail("cannot fsync");
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) return fail("cannot rename to " + path.string());
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return Ok();
}

Status Remove(const std::filesystem::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Error(ErrorCode::kIo, "cannot remove " + path.string() + ": " + std::strerror(errno));
  }
  return Ok();
}

// One mutex per upstreams file, shared by every NginxDriver in the process.
std::mutex& FileMutex(const std::filesystem::path& path) {
  static std::mutex registry_mu;
  static std::map<std::string, std::unique_ptr<std::mutex>> mutexes;
  std::error_code ec;
  const std::string key = std::filesystem::weakly_canonical(path, ec).string();
  std::lock_guard lock(registry_mu);
  auto& mu = mutexes[ec ? path.string() : key];
  if (!mu) mu = std::make_unique<std::mutex>();
  return *mu;
}

class NginxDriver final : public DeployDriver {
 public:
  NginxDriver(const Driver& config, const DriverDeps& deps)
      : path_(config.upstreams_file),
        reload_(config.reload),
        processes_(*deps.processes),
        options_(deps.nginx),
        file_mu_(FileMutex(path_)) {}

  shipd::Status Deploy(const DriverContext& ctx) override {
    return Apply(ctx, DriverAction::kDeploy);
  }
  shipd::Status SetWeight(const DriverContext& ctx) override {
    return Apply(ctx, DriverAction::kWeight);
  }
  shipd::Status Promote(const DriverContext& ctx) override {
    return Apply(ctx, DriverAction::kPromote);
  }
  shipd::Status Rollback(const DriverContext& ctx) override {
    return Apply(ctx, DriverAction::kRollback);
  }

  Result<DriverStatus> Status(std::string_view service,
                              std::string_view environment) const override {
    auto block = Read(service, environment);
    if (!block.ok()) return block.error();
    DriverStatus status;
    if (!*block) return status;
    const Block& b = **block;
    if (b.stable) {
      status.stable_version = b.stable->version;
      status.instances.push_back({b.stable->version, "stable", "http://" + b.stable->address, 0, 0,
                                  !b.canary || b.weight < 100});
    }
    if (b.canary) {
      status.canary_version = b.canary->version;
      status.weight = b.weight;
      status.instances.push_back({b.canary->version, "canary", "http://" + b.canary->address, 0, 0,
                                  b.weight > 0 || !b.stable});
    }
    status.detail = "upstream shipd_" + std::string(service) + "_" + std::string(environment) +
                    " in " + path_.string();
    return status;
  }

  Endpoints Urls(std::string_view service, std::string_view environment) const override {
    Endpoints urls;
    auto block = Read(service, environment);
    if (!block.ok() || !*block) return urls;
    const Block& b = **block;
    if (b.stable) urls.stable_url = "http://" + b.stable->address;
    if (b.canary) {
      urls.canary_url = "http://" + b.canary->address;
      if (!b.stable) urls.stable_url = urls.canary_url;
    } else {
      urls.canary_url = urls.stable_url;
    }
    return urls;
  }

 private:
  Result<std::optional<Block>> Read(std::string_view service, std::string_view environment) const {
    std::lock_guard lock(file_mu_);
    auto text = ReadText(path_);
    if (!text.ok()) return text.error();
    auto file = UpstreamsFile::Parse(*text, path_.string());
    if (!file.ok()) return file.error();
    const auto* part = file->Find(Key(service, environment));
    return part == nullptr ? std::optional<Block>() : part->block;
  }

  // The member for `version`: from the artifact, else from what the file records.
  static Result<Member> Resolve(const std::string& version, const std::string& artifact,
                                const std::optional<Block>& current, std::string_view what) {
    if (!VersionOk(version)) {
      return Error(ErrorCode::kInvalid,
                   std::string(what) + " \"" + version + "\" cannot be written into an nginx file");
    }
    if (!artifact.empty()) {
      auto address = ParseAddress(artifact, what);
      if (!address.ok()) return address.error();
      return Member{version, *address};
    }
    if (current) {
      for (const auto* member : {&current->stable, &current->canary}) {
        if (*member && (*member)->version == version) return **member;
      }
    }
    return Error(ErrorCode::kInvalid, std::string(what) + " " + version +
                                          " has no artifact (host:port) and is not in the file");
  }

  shipd::Status Apply(const DriverContext& ctx, DriverAction action) {
    SHIPD_RETURN_IF_ERROR(ValidateContext(ctx));
    const std::string where = Where(ctx.service, ctx.environment);
    if (!NameOk(ctx.service) || !NameOk(ctx.environment)) {
      return Error(ErrorCode::kInvalid,
                   where + ": service and environment names must be [a-z0-9-]");
    }
    // Held through the reload, so that a failed reload can put back exactly what was read.
    std::lock_guard lock(file_mu_);
    auto text = ReadText(path_);
    if (!text.ok()) return text.error();
    auto file = UpstreamsFile::Parse(*text, path_.string());
    if (!file.ok()) return file.error();
    const auto* part = file->Find(Key(ctx.service, ctx.environment));
    const std::optional<Block> current = part ? part->block : std::nullopt;

    std::optional<Block> next = Block{};
    const bool has_stable = !ctx.previous_version.empty() && ctx.previous_version != ctx.version;
    switch (action) {
      case DriverAction::kDeploy:
      case DriverAction::kWeight: {
        auto canary = Resolve(ctx.version, ctx.artifact, current, "version");
        if (!canary.ok()) return canary.error().WithContext(where);
        if (has_stable) {
          auto stable =
              Resolve(ctx.previous_version, ctx.previous_artifact, current, "previous version");
          if (!stable.ok()) return stable.error().WithContext(where);
          next->stable = *stable;
          next->canary = *canary;
          next->weight = ctx.weight;
        } else if (ctx.previous_version == ctx.version) {
          next->stable = *canary;
        } else {
          next->canary = *canary;  // nothing else runs: it gets everything
          next->weight = 100;
        }
        break;
      }
      case DriverAction::kPromote: {
        auto stable = Resolve(ctx.version, ctx.artifact, current, "version");
        if (!stable.ok()) return stable.error().WithContext(where);
        next->stable = *stable;
        break;
      }
      case DriverAction::kRollback:
        if (ctx.previous_version.empty()) {
          next.reset();  // nothing ran before: the block goes
        } else {
          auto stable =
              Resolve(ctx.previous_version, ctx.previous_artifact, current, "previous version");
          if (!stable.ok()) return stable.error().WithContext(where);
          next->stable = *stable;
        }
        break;
    }
    if (file->parts.empty() && next) {
      file->parts.push_back(
          {"",
           "# Written by shipd: one weighted upstream per service and environment. Blocks\n"
           "# between shipd:begin and shipd:end are rewritten; other lines are kept.\n",
           std::nullopt});
    }
    file->Set(ctx.service, ctx.environment, next);
    const std::string updated = file->Text();
    if (updated == *text) return Reload(where);

    std::error_code ec;
    const bool existed = std::filesystem::exists(path_, ec) || ec;
    auto written = WriteAtomically(path_, updated);
    if (!written.ok()) return written.error().WithContext(where);
    auto reloaded = Reload(where);
    if (reloaded.ok()) return reloaded;
    // nginx still serves the previous configuration: put the file back so that it says so (Status
    // reads it) and so that a block nginx rejects does not fail the reloads of other services.
    auto restored = existed ? WriteAtomically(path_, *text) : Remove(path_);
    if (!restored.ok()) {
      return Error(reloaded.error().code(), reloaded.error().message() +
                                                "; restoring the previous upstreams file failed: " +
                                                restored.error().message());
    }
    return reloaded;
  }

  shipd::Status Reload(const std::string& where) {
    ProcessSpec spec;
    spec.argv = reload_;
    spec.timeout = options_.reload_timeout;
    auto result = processes_.Run(spec);
    if (!result.ok()) return result.error().WithContext(where + ": reload");
    if (result->timed_out || result->exit_code != 0) {
      return Error(ErrorCode::kUnavailable,
                   where + ": reload (" + reload_.front() + ") " +
                       (result->timed_out ? std::string("timed out")
                                          : "exited with " + std::to_string(result->exit_code)) +
                       ": " + TrimOutput(result->output));
    }
    return Ok();
  }

  const std::filesystem::path path_;
  const std::vector<std::string> reload_;
  ProcessRunner& processes_;
  const DriverDeps::Nginx options_;
  std::mutex& file_mu_;
};

}  // namespace

Result<std::unique_ptr<DeployDriver>> MakeNginxDriver(const Driver& config,
                                                      const DriverDeps& deps) {
  if (deps.processes == nullptr) {
    return Error(ErrorCode::kInvalid, "the nginx driver needs a process runner");
  }
  if (config.upstreams_file.empty()) {
    return Error(ErrorCode::kInvalid, "the nginx driver needs upstreams_file");
  }
  if (config.reload.empty()) return Error(ErrorCode::kInvalid, "the nginx driver needs reload");
  return std::unique_ptr<DeployDriver>(std::make_unique<NginxDriver>(config, deps));
}

}  // namespace shipd
