#!/usr/bin/env bash
# Benchmark of the contract gate over the REST API: builds the release preset, and for each fleet
# size starts shipd on 127.0.0.1 (port 0) with a temporary data directory and
# tests/bench/pipelines-4env.yaml (dev -> staging -> perf -> prod), registers a DAG-shaped fleet
# with tests/bench/fleet_bench --shape dag, promotes every first version through the four
# environments (POST /v1/promotions), then times GET /v1/can-i-deploy for random service@version
# pairs one request at a time over one keep-alive connection, GET /v1/plan for a 6-deep chain,
# and can-i-deploy throughput with wrk. Talks only to 127.0.0.1, stops each daemon with SIGTERM
# and removes its data directory. See docs/benchmarks.md ("Contract gate").
#
# Sizes and knobs (environment variables, defaults in brackets):
#   BENCH_FLEETS ["2000x100 200x100 200x1000"]  SERVICESxVERSIONS, one daemon each
#   BENCH_REQUIRES [5]  BENCH_SEED [1]
#   BENCH_LOAD_CLIENTS [4]    clients registering the fleet
#   BENCH_REQUESTS [20000]    timed can-i-deploy requests (after BENCH_WARMUP [1000] untimed)
#   BENCH_PLAN_REQUESTS [200] timed plan requests (after one timed apart: the first)
#   BENCH_WRK_SECONDS [10]  BENCH_WRK_CONNECTIONS [8]  BENCH_WRK_THREADS [2]  (0 seconds: no wrk)
#   BENCH_BUILD [1]        0 skips the build (uses build-release/bin as it is)
#   BENCH_KEEP [0]         1 keeps the data directories and the daemons' logs
set -euo pipefail

FLEETS=${BENCH_FLEETS:-2000x100 200x100 200x1000}
REQUIRES=${BENCH_REQUIRES:-5}
SEED=${BENCH_SEED:-1}
LOAD_CLIENTS=${BENCH_LOAD_CLIENTS:-4}
REQUESTS=${BENCH_REQUESTS:-20000}
WARMUP=${BENCH_WARMUP:-1000}
PLAN_REQUESTS=${BENCH_PLAN_REQUESTS:-200}
WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
WRK_CONNECTIONS=${BENCH_WRK_CONNECTIONS:-8}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
BUILD=${BENCH_BUILD:-1}
KEEP=${BENCH_KEEP:-0}
ENVIRONMENTS=dev,staging,perf,prod

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="$ROOT/build-release/bin"
PIPELINES="$ROOT/tests/bench/pipelines-4env.yaml"
cd "$ROOT"

log() { echo "gate_http.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}

command -v curl >/dev/null || die "curl is not installed"
if ((WRK_SECONDS > 0)); then
  command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk; or BENCH_WRK_SECONDS=0)"
fi

if [[ "$BUILD" == 1 ]]; then
  log "building the release preset"
  cmake --preset release >/dev/null
  cmake --build --preset release -j2 --target shipd fleet_bench
fi
for tool in shipd fleet_bench; do
  [[ -x "$BIN/$tool" ]] || die "$BIN/$tool is missing (run with BENCH_BUILD=1)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shipd-gate-bench.XXXXXX")
DATA=""
PID=""
PORT=""
TOKEN=""
SUMMARY=()

# Records a figure for the summary and prints it at once.
figure() {
  SUMMARY+=("$(printf '%-48s %s' "$1" "$2")")
  printf '%-48s %s\n' "$1" "$2"
}

cleanup() {
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  if [[ "$KEEP" == 1 ]]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
status_kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
value() { awk -v name="$2" '$1 == name { print $2 }' "$1"; }

# Starts shipd on $DATA and waits for its "listening" line; sets PID and PORT.
start_daemon() {
  local out="$DATA/shipd.stdout" err="$DATA/shipd.stderr"
  "$BIN/shipd" --listen 127.0.0.1:0 --data "$DATA/db" --pipelines "$PIPELINES" \
    --log-level warn >"$out" 2>"$err" &
  PID=$!
  PORT=""
  for _ in $(seq 600); do
    PORT=$(sed -n 's|^shipd listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' "$out")
    [[ -n "$PORT" ]] && break
    kill -0 "$PID" 2>/dev/null || { cat "$err" >&2; die "shipd exited during start-up"; }
    sleep 0.1
  done
  [[ -n "$PORT" ]] || die "shipd did not print its listening line within 60 s"
  log "shipd pid $PID on 127.0.0.1:$PORT"
}

# SIGTERM, then waits up to 60 s for a clean exit.
stop_daemon() {
  local status=0
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
  [[ "$status" == 0 ]] || die "shipd exited with status $status after SIGTERM"
}

# Converts a wrk duration ("230.00us", "1.20ms", "1.01s") to microseconds.
to_us() {
  awk -v d="$1" 'BEGIN {
    if (d ~ /us$/) { sub(/us$/, "", d); printf "%.0f", d }
    else if (d ~ /ms$/) { sub(/ms$/, "", d); printf "%.0f", d * 1000 }
    else if (d ~ /s$/) { sub(/s$/, "", d); printf "%.0f", d * 1000000 }
    else { print d }
  }'
}

# wrk cycles through the request paths fleet_bench wrote (random service@version pairs), each
# thread from its own offset.
write_wrk_script() {
  cat >"$1" <<'LUA'
local paths = {}
local next_index = 1
local threads = 0
function setup(thread)
  thread:set("offset", threads * 1000)
  threads = threads + 1
end
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  next_index = (offset or 0) % #paths + 1
end
function request()
  local path = paths[next_index]
  next_index = next_index % #paths + 1
  return wrk.format("GET", path)
end
LUA
}

figure "machine_nproc" "$(nproc)"
figure "machine_cpu" "$(lscpu | sed -n 's/^Model name: *//p' | head -1 | tr ' ' '_')"
figure "machine_load_average_at_start" "$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')"

for fleet in $FLEETS; do
  services=${fleet%x*}
  versions=${fleet#*x}
  [[ "$services" =~ ^[0-9]+$ && "$versions" =~ ^[0-9]+$ ]] || die "bad fleet \"$fleet\" (SxV)"
  name="${services}x${versions}"
  DATA="$WORK/$name"
  mkdir -p "$DATA"
  log "fleet $name: $services services x $versions versions x $REQUIRES requirements"
  start_daemon
  TOKEN=$("$BIN/shipd" --data "$DATA/db" --log-level warn token create bench --role admin)
  [[ "$TOKEN" == shipd_* ]] || die "could not create a token"

  start=$(now)
  if ! "$BIN/fleet_bench" --server "http://127.0.0.1:$PORT" --token "$TOKEN" --shape dag \
    --services "$services" --versions "$versions" --requires "$REQUIRES" --seed "$SEED" \
    --clients "$LOAD_CLIENTS" --promote "$ENVIRONMENTS" --can-i-deploy "$REQUESTS" \
    --warmup "$WARMUP" --plan "$PLAN_REQUESTS" --paths-out "$DATA/paths.txt" |
    tee "$DATA/fleet_bench.txt"; then
    die "fleet_bench failed on fleet $name"
  fi
  figure "${name}_fleet_bench_seconds" "$(seconds_since "$start")"
  out="$DATA/fleet_bench.txt"
  figure "${name}_versions_registered" "$(value "$out" versions_registered)"
  figure "${name}_registrations_per_second" "$(value "$out" registrations_per_second)"
  figure "${name}_promotions_created" "$(value "$out" promotions_created)"
  figure "${name}_promotions_per_second" "$(value "$out" promotions_per_second)"
  figure "${name}_promotion_latency_ms_p50" "$(value "$out" promotion_latency_ms_p50)"
  figure "${name}_promotion_latency_ms_p99" "$(value "$out" promotion_latency_ms_p99)"
  for key in allowed_fraction response_bytes_mean sequential_per_second p50_us p90_us p99_us \
    p999_us max_us mean_us; do
    figure "${name}_can_i_deploy_$key" "$(value "$out" "can_i_deploy_$key")"
  done
  for key in steps first_us p50_us p99_us max_us; do
    figure "${name}_plan_chain6_$key" "$(value "$out" "plan_chain6_$key")"
  done
  figure "${name}_rss_mb" "$(mb "$(status_kb "$PID" VmRSS)")"
  figure "${name}_database_mb" "$(du -sk "$DATA/db" | awk '{ printf "%.1f", $1 / 1024 }')"

  if ((WRK_SECONDS > 0)); then
    write_wrk_script "$DATA/paths.lua"
    log "wrk: GET /v1/can-i-deploy (random pairs), $WRK_CONNECTIONS connections, ${WRK_SECONDS}s"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" --latency \
      -H "Authorization: Bearer $TOKEN" -s "$DATA/paths.lua" "http://127.0.0.1:$PORT" \
      -- "$DATA/paths.txt" >"$DATA/wrk.txt"
    cat "$DATA/wrk.txt" >&2
    if grep -q -E 'Non-2xx|Socket errors' "$DATA/wrk.txt"; then
      die "wrk saw errors on GET /v1/can-i-deploy (see above)"
    fi
    w="$DATA/wrk.txt"
    figure "${name}_wrk_can_i_deploy_requests_per_second" \
      "$(awk '$1 == "Requests/sec:" { printf "%.0f", $2 }' "$w")"
    figure "${name}_wrk_can_i_deploy_p50_us" "$(to_us "$(awk '$1 == "50%" { print $2 }' "$w")")"
    figure "${name}_wrk_can_i_deploy_p99_us" "$(to_us "$(awk '$1 == "99%" { print $2 }' "$w")")"
    figure "${name}_rss_mb_after_wrk" "$(mb "$(status_kb "$PID" VmRSS)")"
  fi
  stop_daemon
  [[ "$KEEP" == 1 ]] || rm -rf "$DATA"
done

echo
echo "== shipd contract gate benchmark summary ($(date -u +%Y-%m-%dT%H:%M:%SZ)) =="
printf '%s\n' "${SUMMARY[@]}"
