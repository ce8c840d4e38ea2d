#!/usr/bin/env bash
# Benchmark of the registry: builds the release preset, starts shipd on 127.0.0.1 (port 0) with a
# temporary data directory and pipelines/demo.yaml, and measures idle memory, durable
# registration throughput (tests/bench/fleet_bench), memory with the fleet loaded, read
# throughput and latency (wrk), and a restart with the fleet on disk. Talks only to 127.0.0.1,
# stops the daemon with SIGTERM and removes the data directory. See docs/benchmarks.md.
#
# Sizes and knobs (environment variables, defaults in brackets):
#   BENCH_SERVICES [2000]  BENCH_VERSIONS [50]  BENCH_REQUIRES [3]  BENCH_SEED [1]
#   BENCH_CLIENTS [4]      concurrent clients of the second registration phase; 1 skips it
#   BENCH_CONCURRENT_SERVICES [100]  services (x BENCH_VERSIONS) registered in that phase
#   BENCH_WRK_SECONDS [10]  BENCH_WRK_CONNECTIONS [8]  BENCH_WRK_THREADS [2]
#   BENCH_BUILD [1]        0 skips the build (uses build-release/bin as it is)
#   BENCH_KEEP [0]         1 keeps the data directory and the daemon's logs
set -euo pipefail

SERVICES=${BENCH_SERVICES:-2000}
VERSIONS=${BENCH_VERSIONS:-50}
REQUIRES=${BENCH_REQUIRES:-3}
SEED=${BENCH_SEED:-1}
CLIENTS=${BENCH_CLIENTS:-4}
CONCURRENT_SERVICES=${BENCH_CONCURRENT_SERVICES:-100}
WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
WRK_CONNECTIONS=${BENCH_WRK_CONNECTIONS:-8}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
BUILD=${BENCH_BUILD:-1}
KEEP=${BENCH_KEEP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="$ROOT/build-release/bin"
cd "$ROOT"

log() { echo "run.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}

command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"

if [[ "$BUILD" == 1 ]]; then
  log "building the release preset"
  cmake --preset release >/dev/null
  cmake --build --preset release -j2 --target shipd shipctl fleet_bench
fi
for tool in shipd fleet_bench; do
  [[ -x "$BIN/$tool" ]] || die "$BIN/$tool is missing (run with BENCH_BUILD=1)"
done

DATA=$(mktemp -d "${TMPDIR:-/tmp}/shipd-bench.XXXXXX")
PID=""
PORT=""
SUMMARY=()

# Records a figure for the summary and prints it at once.
figure() {
  SUMMARY+=("$(printf '%-44s %s' "$1" "$2")")
  printf '%-44s %s\n' "$1" "$2"
}

cleanup() {
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  if [[ "$KEEP" == 1 ]]; then
    log "kept $DATA"
  else
    rm -rf "$DATA"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
status_kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

# Starts shipd on the data directory and waits for its "listening" line; sets PID and PORT.
start_daemon() {
  local run=$1 out="$DATA/shipd.$1.stdout" err="$DATA/shipd.$1.stderr"
  local start
  start=$(now)
  "$BIN/shipd" --listen 127.0.0.1:0 --data "$DATA/db" --pipelines pipelines/demo.yaml \
    --log-level warn >"$out" 2>"$err" &
  PID=$!
  for _ in $(seq 600); do
    PORT=$(sed -n 's|^shipd listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' "$out")
    [[ -n "$PORT" ]] && break
    kill -0 "$PID" 2>/dev/null || { cat "$err" >&2; die "shipd exited during start-up"; }
    sleep 0.1
  done
  [[ -n "$PORT" ]] || die "shipd did not print its listening line within 60 s"
  STARTUP_SECONDS=$(seconds_since "$start")
  log "shipd ($run) pid $PID on 127.0.0.1:$PORT after ${STARTUP_SECONDS}s"
}

# SIGTERM, then waits up to 60 s for a clean exit; sets STOP_SECONDS.
stop_daemon() {
  local start status=0
  start=$(now)
  kill -TERM "$PID"
  for _ in $(seq 600); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$PID" 2>/dev/null; then
    kill -KILL "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
    die "shipd did not stop within 60 s of SIGTERM"
  fi
  wait "$PID" || status=$?
  PID=""
  STOP_SECONDS=$(seconds_since "$start")
  [[ "$status" == 0 ]] || die "shipd exited with status $status after SIGTERM"
}

api() { curl -fsS --max-time 10 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$1"; }
metric() { api /metrics | awk -v name="$1" '$1 == name { print $2 }'; }
value() { awk -v name="$2" '$1 == name { print $2 }' "$1"; }

# Converts a wrk duration ("230.00us", "1.20ms", "1.01s") to milliseconds.
to_ms() {
  awk -v d="$1" 'BEGIN {
    if (d ~ /us$/) { sub(/us$/, "", d); printf "%.3f", d / 1000 }
    else if (d ~ /ms$/) { sub(/ms$/, "", d); printf "%.3f", d }
    else if (d ~ /s$/) { sub(/s$/, "", d); printf "%.3f", d * 1000 }
    else { print d }
  }'
}

# wrk against one GET route; records requests/s and the p50/p99 latencies under `name`.
run_wrk() {
  local name=$1 path=$2 out="$DATA/wrk.$1.txt"
  api "$path" >/dev/null || die "GET $path failed before the load"
  log "wrk: GET $path, $WRK_CONNECTIONS connections, ${WRK_SECONDS}s"
  wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" --latency \
    -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$path" >"$out"
  cat "$out" >&2
  if grep -q -E 'Non-2xx|Socket errors' "$out"; then
    die "wrk saw errors on GET $path (see above)"
  fi
  figure "${name}_requests_per_second" "$(awk '$1 == "Requests/sec:" { printf "%.0f", $2 }' "$out")"
  figure "${name}_latency_ms_p50" "$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")"
  figure "${name}_latency_ms_p99" "$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")"
  figure "${name}_response_bytes" "$(api "$path" | wc -c)"
}

figure "machine_nproc" "$(nproc)"
figure "machine_cpu" "$(lscpu | sed -n 's/^Model name: *//p' | head -1 | tr ' ' '_')"
figure "fleet" "${SERVICES}x${VERSIONS}x${REQUIRES} (seed $SEED)"

# 1. Idle: a fresh database, nothing registered, no request served yet.
start_daemon first
sleep 1
figure "startup_seconds_empty" "$STARTUP_SECONDS"
figure "idle_rss_mb" "$(mb "$(status_kb "$PID" VmRSS)")"
TOKEN=$("$BIN/shipd" --data "$DATA/db" --log-level warn token create bench --role admin)
[[ "$TOKEN" == shipd_* ]] || die "could not create a token"

# 2. Durable registrations from one client over one keep-alive connection.
log "registering ${SERVICES} services x ${VERSIONS} versions with one client"
"$BIN/fleet_bench" --server "http://127.0.0.1:$PORT" --token "$TOKEN" --services "$SERVICES" \
  --versions "$VERSIONS" --requires "$REQUIRES" --seed "$SEED" --clients 1 | tee "$DATA/load.txt"
figure "versions_registered" "$(value "$DATA/load.txt" versions_registered)"
figure "versions_elapsed_seconds" "$(value "$DATA/load.txt" versions_elapsed_seconds)"
figure "registrations_per_second" "$(value "$DATA/load.txt" registrations_per_second)"
figure "registration_latency_ms_p50" "$(value "$DATA/load.txt" versions_latency_ms_p50)"
figure "registration_latency_ms_p99" "$(value "$DATA/load.txt" versions_latency_ms_p99)"
figure "service_registrations_per_second" \
  "$(value "$DATA/load.txt" service_registrations_per_second)"
figure "loaded_versions_in_daemon" "$(metric shipd_versions)"
figure "loaded_rss_mb" "$(mb "$(status_kb "$PID" VmRSS)")"
figure "loaded_peak_rss_mb" "$(mb "$(status_kb "$PID" VmHWM)")"
figure "database_mb" "$(du -sk "$DATA/db" | awk '{ printf "%.1f", $1 / 1024 }')"

# 3. Reads under load (the snapshot path), with the fleet loaded.
run_wrk environment /v1/environments/staging
run_wrk service "/v1/services/svc-0000"
figure "rss_mb_after_reads" "$(mb "$(status_kb "$PID" VmRSS)")"

# 4. Restart: the fleet is loaded from the database.
stop_daemon
figure "stop_seconds" "$STOP_SECONDS"
start_daemon restart
figure "startup_seconds_loaded" "$STARTUP_SECONDS"
figure "restart_rss_mb" "$(mb "$(status_kb "$PID" VmRSS)")"

# 5. Durable registrations from several concurrent clients (another fleet, so every write is new).
if ((CLIENTS > 1)); then
  log "registering ${CONCURRENT_SERVICES} services x ${VERSIONS} versions with $CLIENTS clients"
  "$BIN/fleet_bench" --server "http://127.0.0.1:$PORT" --token "$TOKEN" --prefix conc \
    --services "$CONCURRENT_SERVICES" --versions "$VERSIONS" --requires "$REQUIRES" \
    --seed "$SEED" --clients "$CLIENTS" | tee "$DATA/concurrent.txt"
  figure "concurrent_clients" "$CLIENTS"
  figure "concurrent_registrations_per_second" \
    "$(value "$DATA/concurrent.txt" registrations_per_second)"
  figure "concurrent_registration_latency_ms_p50" \
    "$(value "$DATA/concurrent.txt" versions_latency_ms_p50)"
  figure "concurrent_registration_latency_ms_p99" \
    "$(value "$DATA/concurrent.txt" versions_latency_ms_p99)"
fi

stop_daemon

echo
echo "== shipd benchmark summary ($(date -u +%Y-%m-%dT%H:%M:%SZ)) =="
printf '%s\n' "${SUMMARY[@]}"
