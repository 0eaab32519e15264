#!/usr/bin/env bash
# The long chaos run (issue #14): duet node processes clustered on NATS
# under steady join/relay/leave traffic while a loop kills (kill -9) and
# restarts nodes under the same id, drains them, partitions them from
# NATS, freezes them past node_dead_after, and restarts NATS with and
# without its data; the invariants are checked throughout and after.
# `make test` runs the same test for 60 s on three nodes.
#
#   scripts/chaos.sh                       # 5 minutes, 5 nodes, 8 pairs
#   DURATION=10m NODES=3 PAIRS=4 scripts/chaos.sh
#
# Node logs go to LOGS (default: a new temporary directory, printed).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5m}
NODES=${NODES:-5}
PAIRS=${PAIRS:-8}
LOGS=${LOGS:-$(mktemp -d)}
mkdir -p "$LOGS"
echo "chaos: $DURATION, $NODES nodes, $PAIRS pairs; node logs in $LOGS"
DUET_CHAOS_DURATION="$DURATION" DUET_CHAOS_NODES="$NODES" DUET_CHAOS_PAIRS="$PAIRS" DUET_CHAOS_LOGS="$LOGS" \
  go test -count=1 -v -timeout 0 -run '^TestChaos$' ./cluster/chaos
