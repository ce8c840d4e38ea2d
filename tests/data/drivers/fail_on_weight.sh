#!/bin/sh
# An exec driver for tests: deploy, promote and rollback succeed; setting a weight fails, with a
# message on stderr that the rollout's events must carry.
set -eu
case "$SHIP_ACTION" in
  weight)
    echo "fail_on_weight: refusing $SHIP_WEIGHT% for $SHIP_SERVICE@$SHIP_VERSION in $SHIP_ENVIRONMENT" >&2
    exit 1
    ;;
  *)
    echo "fail_on_weight: $SHIP_ACTION $SHIP_SERVICE@$SHIP_VERSION at $SHIP_WEIGHT% done"
    ;;
esac
