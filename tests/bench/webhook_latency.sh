#!/usr/bin/env bash
# How fast shipd answers a tag webhook for a repository with a large history (the answer must not
# wait for the fetch), and how long until the version is registered. Builds the release preset,
# makes a local repository with ~50 MB of history, starts shipd on 127.0.0.1:0 with that
# repository mapped, sends signed GitHub deliveries with curl and prints the figures.
# Talks only to 127.0.0.1; stops shipd with SIGTERM and removes its files.
#   BENCH_HISTORY_MB [50]  BENCH_DELIVERIES [50]  BENCH_BUILD [1]
set -euo pipefail
HISTORY_MB=${BENCH_HISTORY_MB:-50}
DELIVERIES=${BENCH_DELIVERIES:-50}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="$ROOT/build-release/bin"
cd "$ROOT"
if [[ "${BENCH_BUILD:-1}" == 1 ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release -j2 --target shipd >/dev/null
fi

work=$(mktemp -d)
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

repo="$work/orders"
git init -q -b main "$repo"
git -C "$repo" config user.email bench@example.com
git -C "$repo" config user.name bench
for i in $(seq "$HISTORY_MB"); do   # incompressible: 1 MB of random bytes per commit
  head -c 1048576 /dev/urandom > "$repo/blob.bin"
  git -C "$repo" add blob.bin
  git -C "$repo" commit -q -m "blob $i"
done
printf 'service: orders\nprovides:\n  - api: orders\n    version: 1.0.0\n' > "$repo/ship.yaml"
git -C "$repo" add ship.yaml && git -C "$repo" commit -q -m manifest && git -C "$repo" tag v1.0.0
echo "repository_mb $(du -sm "$repo/.git" | cut -f1)"

secret="bench-secret"
echo "$secret" > "$work/hook.secret"
printf 'repositories:\n  orders:\n    url: file://%s\n    secret_file: hook.secret\n    poll_interval: off\n' \
  "$repo" > "$work/shipd.yaml"
token=$("$BIN/shipd" --data "$work/data" token create bench --role admin)
"$BIN/shipd" --config "$work/shipd.yaml" --listen 127.0.0.1:0 --data "$work/data" \
  --pipelines pipelines/demo.yaml > "$work/out" 2> "$work/log" &
pid=$!
until grep -q "listening on" "$work/out" 2>/dev/null; do sleep 0.05; done
url=$(sed -n 's/.*listening on //p' "$work/out")

commit=$(git -C "$repo" rev-parse v1.0.0)
body=$(printf '{"ref":"refs/tags/v1.0.0","before":"%s","after":"%s","repository":{"clone_url":"file://%s","full_name":"acme/orders"}}' \
  "0000000000000000000000000000000000000000" "$commit" "$repo")
signature=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | awk '{print $NF}')

start=$(date +%s%N)
times=()
for i in $(seq "$DELIVERIES"); do
  t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -X POST "$url/v1/hooks/github" \
    -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H "X-GitHub-Delivery: bench-$i" -H "X-Hub-Signature-256: sha256=$signature" --data "$body")
  [[ "${t%% *}" == 202 ]] || { echo "delivery $i answered ${t%% *}" >&2; exit 1; }
  times+=("${t##* }")
done
# Time from the first delivery until the version is registered (long-polling the journal).
after=0
until curl -s -H "Authorization: Bearer $token" "$url/v1/services/orders/versions/1.0.0" \
    -o /dev/null -w '%{http_code}' | grep -q 200; do
  after=$(curl -s -H "Authorization: Bearer $token" \
    "$url/v1/events?after=$after&wait_ms=2000" | sed -n 's/.*"next_after":\([0-9]*\).*/\1/p')
done
registered_ms=$(( ($(date +%s%N) - start) / 1000000 ))

printf '%s\n' "${times[@]}" | sort -n | awk -v n="$DELIVERIES" '
  { v[NR] = $1 * 1000 }
  END { printf "webhook_answer_ms_p50 %.2f\nwebhook_answer_ms_p99 %.2f\nwebhook_answer_ms_max %.2f\n",
        v[int((n + 1) / 2)], v[int(n * 0.99 + 0.5) < 1 ? 1 : int(n * 0.99 + 0.5)], v[n] }'
echo "first_delivery_to_registered_ms $registered_ms"
