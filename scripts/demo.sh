#!/usr/bin/env bash
# The README's first command: installs what is missing, builds shipd and shipctl, starts shipd on
# the demo pipeline and registers a small fleet (web -> orders -> billing) through the real API.
# The daemon keeps running afterwards; the script prints where to look.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target shipd shipctl

bin="$root/build-release/bin"
data="$root/demo-data"
port="${SHIP_DEMO_PORT:-7700}"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -f "$data/shipd.pid" ] && kill -0 "$(cat "$data/shipd.pid")" 2>/dev/null; then
  say "stopping the previous demo daemon (pid $(cat "$data/shipd.pid"))"
  kill "$(cat "$data/shipd.pid")"
  while kill -0 "$(cat "$data/shipd.pid")" 2>/dev/null; do sleep 0.1; done
fi
rm -rf "$data"
mkdir -p "$data"

say "creating tokens"
admin=$("$bin/shipd" --data "$data" token create demo-admin --role admin)
ci=$("$bin/shipd" --data "$data" token create demo-ci --role deployer)
viewer=$("$bin/shipd" --data "$data" token create demo-viewer --role viewer)
printf 'admin=%s\ndeployer=%s\nviewer=%s\n' "$admin" "$ci" "$viewer" > "$data/tokens"
echo "tokens written to $data/tokens (shown once; only their SHA-256 is stored)"

say "starting shipd on 127.0.0.1:$port with pipelines/demo.yaml"
nohup "$bin/shipd" --listen "127.0.0.1:$port" --data "$data" --pipelines pipelines/demo.yaml \
  > "$data/shipd.out" 2> "$data/shipd.log" &
echo $! > "$data/shipd.pid"
for _ in $(seq 100); do
  grep -q "listening on" "$data/shipd.out" 2>/dev/null && break
  kill -0 "$(cat "$data/shipd.pid")" 2>/dev/null || { cat "$data/shipd.log"; exit 1; }
  sleep 0.1
done
cat "$data/shipd.out"

export SHIP_SERVER="http://127.0.0.1:$port" SHIP_TOKEN="$ci"
shipctl() { echo "\$ shipctl $*"; "$bin/shipctl" "$@"; }

say "registering services"
shipctl service add billing --repo file://$root/deploy/demo/billing
shipctl service add orders --repo file://$root/deploy/demo/orders
shipctl service add web --repo file://$root/deploy/demo/web

say "registering versions with their contracts (ship.yaml + OpenAPI documents)"
shipctl version register billing@2.3.0 -f deploy/demo/billing/ship.yaml
shipctl version register orders@3.1.0 -f deploy/demo/orders/ship.yaml
shipctl version register web@5.2.0 -f deploy/demo/web/ship.yaml
say "registering the same version again is idempotent; changing it is refused (exit 3)"
shipctl version register orders@3.1.0 -f deploy/demo/orders/ship.yaml
shipctl version register orders@3.1.0 -f deploy/demo/orders/ship.yaml --artifact tampered:1 || true

say "can web go to dev first? The contract gate says no: nothing provides the orders API there"
shipctl can-i-deploy web@5.2.0 --to dev || echo "(exit code $?)"
say "the plan: providers first"
shipctl plan web@5.2.0 --to dev
say "carrying the plan out, then the same through staging and prod (each after the one before)"
for env in dev staging prod; do
  shipctl promote billing@2.3.0 --to $env
  shipctl promote orders@3.1.0 --to $env
  shipctl promote web@5.2.0 --to $env
done
shipctl status

say "orders 3.2.0 claims a compatible minor release, but its OpenAPI document drops a field"
shipctl version register orders@3.2.0 -f deploy/demo/orders-3.2-dishonest/ship.yaml
shipctl can-i-deploy orders@3.2.0 --to dev || echo "(exit code $?)"
shipctl api diff deploy/demo/orders/api/openapi.yaml deploy/demo/orders-3.2-dishonest/api/openapi.yaml || true

say "orders 4.0.0 is a major release of the orders API: promoting it would break web@5.2.0"
shipctl version register orders@4.0.0 -f deploy/demo/orders-4/ship.yaml
shipctl promote orders@4.0.0 --to dev || echo "(exit code $?: blocked, nothing changed)"
say "web 6.0.0 accepts orders 3.1 and 4.x: it goes first, then orders 4.0.0 is allowed"
shipctl version register web@6.0.0 -f deploy/demo/web-6/ship.yaml
shipctl promote web@6.0.0 --to dev
shipctl promote orders@4.0.0 --to dev
say "...and it may not skip staging on its way to prod"
shipctl can-i-deploy orders@4.0.0 --to prod || echo "(exit code $?)"

say "what runs where, and who depends on whom in prod"
shipctl status
shipctl graph --env prod
say "the journal: every registration, promotion and refusal, with who asked"
shipctl events

say "shipd is running (pid $(cat "$data/shipd.pid")), logs in $data/shipd.log"
cat <<MSG
Try:
  export SHIP_SERVER=$SHIP_SERVER SHIP_TOKEN=$ci
  $bin/shipctl status
  $bin/shipctl plan web@6.0.0 --to prod
  $bin/shipctl graph --env dev --format dot
  $bin/shipctl events --follow
  curl -s -H "Authorization: Bearer $viewer" $SHIP_SERVER/v1/services/orders/versions/3.1.0
  curl -s -H "Authorization: Bearer $viewer" $SHIP_SERVER/metrics | head
Stop it with: kill $(cat "$data/shipd.pid")
MSG
