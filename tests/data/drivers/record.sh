#!/bin/sh
# The exec driver of tests/data/pipelines/crash.yaml: appends one line
# "ACTION SERVICE VERSION WEIGHT" per operation to the file named by $1, under a lock so that
# concurrent operations never interleave. While it runs it holds a shared lock on "$1.running":
# a test that takes that lock exclusively has waited for every operation in flight, including
# those of a daemon it killed. The operation then takes a moment, as a real one would, so that a
# crash can catch it in flight.
set -eu
exec 8>>"$1.running"
flock -s 8
exec 9>>"$1"
flock 9
printf '%s %s %s %s\n' "$SHIP_ACTION" "$SHIP_SERVICE" "$SHIP_VERSION" "$SHIP_WEIGHT" >&9
exec 9>&-
sleep 0.1
