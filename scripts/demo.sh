#!/usr/bin/env bash
# The README's first command: installs what is missing, builds shipd, shipctl and the demo
# programs, starts shipd on the demo pipeline (dev -> staging -> prod, all on this machine through
# the local driver: real processes behind a weighted proxy) and plays a short story through the
# real API: a small fleet (web -> orders -> billing) promoted with canaries under generated
# traffic, a promotion the contract gate refuses and the plan that fixes it, and a canary with a
# high error rate rolled back by the traffic check. The daemon keeps running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target shipd shipctl demo-service demo-traffic

bin="$root/build-release/bin"
data="$root/demo-data"
port="${SHIP_DEMO_PORT:-7700}"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

for pidfile in "$data/traffic.pid" "$data/shipd.pid"; do
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "stopping the previous demo's $(basename "$pidfile" .pid) (pid $(cat "$pidfile"))"
    kill "$(cat "$pidfile")"
    while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.1; done
  fi
done
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

say "users: demo-traffic sends 40 requests a second through each service's front door"
"$bin/demo-traffic" --server "$SHIP_SERVER" --token "$viewer" --rps 40 > "$data/traffic.log" 2>&1 &
echo $! > "$data/traffic.pid"

say "can web go to dev first? The contract gate says no: nothing provides the orders API there"
shipctl can-i-deploy web@5.2.0 --to dev || echo "(exit code $?)"
say "the plan: providers first"
shipctl plan web@5.2.0 --to dev
say "carrying the plan out in dev (strategy direct: each version starts as a process at once)"
for svc in billing@2.3.0 orders@3.1.0 web@5.2.0; do shipctl promote $svc --to dev --wait; done

say "staging: canaries, 20% then 50% of the traffic, judged by /healthz and the error rate"
for svc in billing@2.3.0 orders@3.1.0 web@5.2.0; do shipctl promote $svc --to staging --wait; done
say "prod: each version must have succeeded in staging first"
for svc in billing@2.3.0 orders@3.1.0 web@5.2.0; do shipctl promote $svc --to prod --wait; done
shipctl status

say "orders 3.2.0 claims a compatible minor release, but its OpenAPI document drops a field"
shipctl version register orders@3.2.0 -f deploy/demo/orders-3.2-dishonest/ship.yaml
shipctl can-i-deploy orders@3.2.0 --to dev || echo "(exit code $?)"
shipctl api diff deploy/demo/orders/api/openapi.yaml deploy/demo/orders-3.2-dishonest/api/openapi.yaml || true

say "orders 4.0.0 is a major release of the orders API: promoting it would break web@5.2.0"
shipctl version register orders@4.0.0 -f deploy/demo/orders-4/ship.yaml
shipctl promote orders@4.0.0 --to dev || echo "(exit code $?: blocked, nothing changed)"
say "web 6.0.0 accepts orders 3.1 and 4.x; with it registered, the plan upgrades web first"
shipctl version register web@6.0.0 -f deploy/demo/web-6/ship.yaml
shipctl plan orders@4.0.0 --to dev
say "carrying the plan out, step by step"
for step in $("$bin/shipctl" plan orders@4.0.0 --to dev | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $2 }'); do
  shipctl promote "$step" --to dev --wait
done
say "...and orders 4.0.0 may not skip staging on its way to prod"
shipctl can-i-deploy orders@4.0.0 --to prod || echo "(exit code $?)"

say "orders 3.1.1 has a bug: three requests in ten fail. Its canary in staging is rolled back"
shipctl version register orders@3.1.1 -f deploy/demo/orders/ship.yaml \
  --artifact "demo-service --name orders --version {{version}} --error-rate 0.3"
shipctl promote orders@3.1.1 --to dev --wait
shipctl promote orders@3.1.1 --to staging --wait || echo "(exit code $?: rolled back, orders@3.1.0 still serves staging)"

say "what runs where, and who depends on whom in prod"
shipctl status
shipctl graph --env prod
say "the rolled-back rollout, step by step (every transition is in the journal with who asked)"
shipctl rollout get "$(curl -s -H "Authorization: Bearer $viewer" \
  "$SHIP_SERVER/v1/promotions?service=orders&environment=staging&limit=1" |
  grep -o '"id":[0-9]*' | head -n 1 | cut -d: -f2)"

say "the next release travels as a train: orders 4.0.0 and web 6.0.0 to staging, then prod"
shipctl train create release --route staging,prod
say "orders 4.0.0 alone cannot board: it would break web@5.2.0, which runs in both"
shipctl train board release orders@4.0.0 || echo "(exit code $?: refused, nothing aboard)"
say "boarded together they fit; web 6.0.0 (which accepts orders 3.1 and 4.x) travels first"
shipctl train board release orders@4.0.0 web@6.0.0
shipctl train depart release --wait --timeout 5m || echo "(exit code $?)"
shipctl status

say "shipd is running (pid $(cat "$data/shipd.pid")), logs in $data/shipd.log"
cat <<MSG
demo-traffic keeps sending requests (pid $(cat "$data/traffic.pid"), log $data/traffic.log).
Try:
  export SHIP_SERVER=$SHIP_SERVER SHIP_TOKEN=$ci
  $bin/shipctl status
  $bin/shipctl train status release
  $bin/shipctl rollout get 1
  $bin/shipctl plan web@6.0.0 --to prod
  $bin/shipctl graph --env dev --format dot
  $bin/shipctl events --follow
  curl -s -H "Authorization: Bearer $viewer" $SHIP_SERVER/v1/services/orders/versions/3.1.0
  curl -s -H "Authorization: Bearer $viewer" $SHIP_SERVER/metrics | head
Stop them with: kill $(cat "$data/traffic.pid") $(cat "$data/shipd.pid")
MSG
