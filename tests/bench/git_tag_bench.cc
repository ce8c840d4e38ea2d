// git_tag_bench: how long a tag webhook takes to become a Version. Builds a repository of N
// commits with `git fast-import` (ship.yaml, an OpenAPI document and a hundred source files), and
// a mirror of it fetched once. Then, R times: a new commit and annotated tag are added upstream
// (not timed) and the "tag event" is handled through the mirror: FetchTags + ResolveTag +
// ReadVersionAtTag (ship.yaml, the spec, VersionFromManifest). For comparison, the same tag's
// ship.yaml is read with `git show TAG:ship.yaml` as a process, and the whole path is repeated with
// the git CLI (`git fetch` into a CLI mirror, then `git show`).
// --transport local (default) fetches by path: libgit2 then builds the pack in-process, work a git
// server does for a real remote. --transport git serves the upstream with `git daemon` on loopback,
// so git's upload-pack builds the pack, as a hosted remote would.
// Prints "name value" lines on stdout (times in milliseconds); progress and errors go to stderr.
// Exit status 0 on success, 1 on failure, 2 for bad usage. Not part of the test run.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "shipd/git/repository.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  int commits = 10000;
  int runs = 200;
  std::string transport = "local";  // or "git": through git daemon on 127.0.0.1
  fs::path dir;                     // empty: a fresh temporary directory, removed at the end
};

constexpr char kOpenApi[] = R"(openapi: 3.0.3
info: {title: orders, version: 3.1.0}
paths:
  /orders/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: an order}}
)";

std::string ShipYaml(int release) {
  return "service: orders\n"
         "artifact: registry.example.com/orders:1.0." +
         std::to_string(release) +
         "\n"
         "provides:\n"
         "  - api: orders\n"
         "    version: 3.1.0\n"
         "    spec: api/openapi.yaml\n"
         "requires:\n"
         "  - api: billing\n"
         "    range: ^2.1\n";
}

struct Process {
  int status = -1;
  std::string output;
};

// Runs argv without a shell, capturing stdout and feeding `input` to stdin.
Process Spawn(const std::vector<std::string>& argv, std::string_view input = {}) {
  Process result;
  int out[2];
  int in[2];
  if (pipe(out) != 0 || pipe(in) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  for (int fd : {in[0], in[1], out[0], out[1]}) posix_spawn_file_actions_addclose(&actions, fd);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    return result;
  }
  // Inputs here are a few hundred kilobytes at most; fast-import reads as we write.
  size_t written = 0;
  while (written < input.size()) {
    ssize_t n = write(in[1], input.data() + written, input.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  close(in[1]);
  char buffer[65536];
  ssize_t n = 0;
  while ((n = read(out[0], buffer, sizeof(buffer))) > 0) {
    result.output.append(buffer, static_cast<size_t>(n));
  }
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool Git(const fs::path& git_dir, std::vector<std::string> args, std::string_view input = {},
         std::string* output = nullptr) {
  args.insert(args.begin(), {"git", "--git-dir=" + git_dir.string()});
  Process process = Spawn(args, input);
  if (process.status != 0) {
    std::fprintf(stderr, "git");
    for (const std::string& arg : args) std::fprintf(stderr, " %s", arg.c_str());
    std::fprintf(stderr, ": exit status %d\n", process.status);
    return false;
  }
  if (output != nullptr) *output = std::move(process.output);
  return true;
}

void AppendData(std::string* stream, std::string_view data) {
  *stream += "data " + std::to_string(data.size()) + "\n";
  *stream += data;
  *stream += "\n";
}

// A fast-import commit on main touching one source file (and ship.yaml when `release` >= 0),
// followed by an annotated tag when `tag` is not empty.
void AppendCommit(std::string* stream, int index, int release, const std::string& tag) {
  std::string when = std::to_string(1700000000 + index) + " +0000\n";
  *stream += "commit refs/heads/main\nmark :" + std::to_string(index + 1) + "\n";
  *stream += "committer Bench <bench@example.com> " + when;
  AppendData(stream, "change " + std::to_string(index));
  if (index == 0) {
    *stream += "M 100644 inline api/openapi.yaml\n";
    AppendData(stream, kOpenApi);
  }
  if (release >= 0) {
    *stream += "M 100644 inline ship.yaml\n";
    AppendData(stream, ShipYaml(release));
  }
  *stream += "M 100644 inline src/module_" + std::to_string(index % 100) + "/file.txt\n";
  AppendData(stream, "revision " + std::to_string(index) + "\n");
  if (!tag.empty()) {
    *stream += "tag " + tag + "\nfrom :" + std::to_string(index + 1) + "\n";
    *stream += "tagger Bench <bench@example.com> " + when;
    AppendData(stream, "release " + tag);
  }
}

struct Stats {
  double p50 = 0;
  double p99 = 0;
  double mean = 0;
};

Stats Summarize(std::vector<double> samples) {
  Stats stats;
  if (samples.empty()) return stats;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    size_t index = static_cast<size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
    return samples[std::min(index, samples.size() - 1)];
  };
  stats.p50 = at(0.50);
  stats.p99 = at(0.99);
  for (double s : samples) stats.mean += s;
  stats.mean /= static_cast<double>(samples.size());
  return stats;
}

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void Print(const char* name, const Stats& stats) {
  std::printf("%s_p50_ms %.3f\n%s_p99_ms %.3f\n%s_mean_ms %.3f\n", name, stats.p50, name, stats.p99,
              name, stats.mean);
}

bool ParseOptions(int argc, char** argv, Options* options) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--commits") {
      options->commits = std::atoi(value);
    } else if (flag == "--runs") {
      options->runs = std::atoi(value);
    } else if (flag == "--dir") {
      options->dir = value;
    } else if (flag == "--transport") {
      options->transport = value;
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && options->commits > 0 && options->runs > 0 &&
         (options->transport == "local" || options->transport == "git");
}

// `git daemon` serving `base` on a free loopback port, stopped when this goes out of scope.
class GitDaemon {
 public:
  explicit GitDaemon(const fs::path& base) {
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(address);
    bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    getsockname(probe, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    close(probe);
    std::vector<std::string> argv = {"git",
                                     "daemon",
                                     "--export-all",
                                     "--reuseaddr",
                                     "--listen=127.0.0.1",
                                     "--port=" + std::to_string(port_),
                                     "--base-path=" + base.string(),
                                     base.string()};
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    if (posix_spawnp(&pid_, "git", nullptr, nullptr, args.data(), environ) != 0) pid_ = -1;
  }
  ~GitDaemon() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Waits (up to about five seconds) until the daemon accepts connections.
  bool WaitReady() const {
    for (int attempt = 0; pid_ > 0 && attempt < 100; ++attempt) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(static_cast<uint16_t>(port_));
      bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
      close(fd);
      if (connected) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::string Url(const std::string& name) const {
    return "git://127.0.0.1:" + std::to_string(port_) + "/" + name;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

int Run(const Options& options, const fs::path& root) {
  const fs::path upstream = root / "upstream.git";
  const fs::path mirror_dir = root / "mirror.git";
  const fs::path cli_mirror = root / "cli-mirror.git";
  if (!Git(upstream, {"init", "-q", "--bare", upstream.string()})) return 1;

  std::fprintf(stderr, "importing %d commits...\n", options.commits);
  std::string stream;
  for (int i = 0; i < options.commits; ++i) {
    bool last = i == options.commits - 1;
    AppendCommit(&stream, i, i == 0 || last ? 0 : -1, last ? "v1.0.0" : "");
  }
  auto start = Clock::now();
  if (!Git(upstream, {"fast-import", "--quiet"}, stream)) return 1;
  std::printf("fast_import_ms %.1f\n", MillisecondsSince(start));
  std::printf("commits %d\n", options.commits);

  std::unique_ptr<GitDaemon> daemon;
  std::string url = upstream.string();
  if (options.transport == "git") {
    daemon = std::make_unique<GitDaemon>(root);
    if (!daemon->WaitReady()) {
      std::fprintf(stderr, "git daemon did not start\n");
      return 1;
    }
    url = daemon->Url("upstream.git");
  }
  std::printf("transport %s\n", options.transport.c_str());

  auto opened = shipd::OpenMirror(url, mirror_dir);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.error().message().c_str());
    return 1;
  }
  shipd::GitMirror& mirror = **opened;
  start = Clock::now();
  if (auto fetched = mirror.FetchTags(); !fetched.ok()) {
    std::fprintf(stderr, "%s\n", fetched.error().message().c_str());
    return 1;
  }
  std::printf("initial_mirror_fetch_ms %.1f\n", MillisecondsSince(start));
  if (!Git(cli_mirror, {"init", "-q", "--bare", cli_mirror.string()}) ||
      !Git(cli_mirror, {"fetch", "-q", "--prune", url, "+refs/tags/*:refs/tags/*"})) {
    return 1;
  }

  std::fprintf(stderr, "%d tag events...\n", options.runs);
  const shipd::TagPattern pattern;
  std::vector<double> event_to_version;
  std::vector<double> mirror_read;
  std::vector<double> git_show;
  std::vector<double> cli_fetch_and_show;
  for (int run = 1; run <= options.runs; ++run) {
    std::string tag = "v1.0." + std::to_string(run);
    std::string next;
    // fast-import needs the branch tip when continuing a branch from an earlier session.
    next += "reset refs/heads/main\nfrom refs/heads/main^0\n\n";
    AppendCommit(&next, options.commits + run, run, tag);
    if (!Git(upstream, {"fast-import", "--quiet"}, next)) return 1;

    start = Clock::now();
    if (auto fetched = mirror.FetchTags(); !fetched.ok()) {
      std::fprintf(stderr, "%s\n", fetched.error().message().c_str());
      return 1;
    }
    auto read_start = Clock::now();
    auto resolved = mirror.ResolveTag(tag);
    if (!resolved.ok()) {
      std::fprintf(stderr, "%s\n", resolved.error().message().c_str());
      return 1;
    }
    auto version = shipd::ReadVersionAtTag(mirror, "orders", *resolved, pattern);
    if (!version.ok()) {
      std::fprintf(stderr, "%s\n", version.error().message().c_str());
      return 1;
    }
    mirror_read.push_back(MillisecondsSince(read_start));
    event_to_version.push_back(MillisecondsSince(start));
    if (version->artifact != "registry.example.com/orders:1.0." + std::to_string(run)) {
      std::fprintf(stderr, "read the wrong ship.yaml at %s\n", tag.c_str());
      return 1;
    }

    std::string shown;
    start = Clock::now();
    if (!Git(upstream, {"show", tag + ":ship.yaml"}, {}, &shown)) return 1;
    git_show.push_back(MillisecondsSince(start));
    if (shown != ShipYaml(run)) {
      std::fprintf(stderr, "git show printed something else\n");
      return 1;
    }

    start = Clock::now();
    if (!Git(cli_mirror, {"fetch", "-q", "--prune", url, "+refs/tags/*:refs/tags/*"}) ||
        !Git(cli_mirror, {"show", tag + ":ship.yaml"}, {}, &shown)) {
      return 1;
    }
    cli_fetch_and_show.push_back(MillisecondsSince(start));
  }
  std::printf("runs %d\n", options.runs);
  Print("mirror_event_to_version", Summarize(event_to_version));
  Print("mirror_resolve_and_read", Summarize(mirror_read));
  Print("git_show_process", Summarize(git_show));
  Print("git_cli_fetch_and_show", Summarize(cli_fetch_and_show));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, &options)) {
    std::fprintf(stderr,
                 "usage: git_tag_bench [--commits N] [--runs R] [--transport local|git] "
                 "[--dir DIR]\n");
    return 2;
  }
  bool temporary = options.dir.empty();
  fs::path root = options.dir;
  if (temporary) {
    std::string pattern = (fs::temp_directory_path() / "git_tag_bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return 1;
    root = pattern;
  } else {
    fs::create_directories(root);
  }
  int status = Run(options, root);
  if (temporary) {
    std::error_code ignored;
    fs::remove_all(root, ignored);
  }
  return status;
}
