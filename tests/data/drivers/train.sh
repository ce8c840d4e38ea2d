#!/bin/sh
# The exec driver of tests/data/pipelines/trains.yaml: appends one line
# "ENVIRONMENT ACTION SERVICE@VERSION WEIGHT" per operation to the file named by $1 (under a lock,
# so concurrent operations never interleave), and fails the deploy of every SERVICE@VERSION
# listed in the file named by $2, with a message on stderr.
set -eu
exec 9>>"$1"
flock 9
printf '%s %s %s@%s %s\n' "$SHIP_ENVIRONMENT" "$SHIP_ACTION" "$SHIP_SERVICE" "$SHIP_VERSION" \
  "$SHIP_WEIGHT" >&9
exec 9>&-
if [ "$SHIP_ACTION" = deploy ] && [ -f "$2" ] && grep -qx "$SHIP_SERVICE@$SHIP_VERSION" "$2"; then
  echo "train.sh: $SHIP_SERVICE@$SHIP_VERSION does not start in $SHIP_ENVIRONMENT" >&2
  exit 1
fi
