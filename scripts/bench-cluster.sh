#!/usr/bin/env bash
# The cluster benchmark: five duet nodes on this machine, clustered on a
# NATS server embedded in the first, hold NODES × PER_NODE sockets in pairs
# whose two sides are on different nodes; then cross-node relay (two nodes)
# beside single-node relay, with the servers on CPU 0 and the generator on
# CPU 1. Writes JSON summaries into DIR (default: a new temporary one) for
# `duet bench report --cluster-dir DIR`; scripts/bench-compare.sh runs it.
#
#   scripts/bench-cluster.sh [DIR]
#
# Settings: NODES (5), PER_NODE (19000), RELAY_PAIRS (50), WINDOW (16),
# DURATION (10s), HOLD (10s).
set -euo pipefail
cd "$(dirname "$0")/.."

NODES=${NODES:-5}
PER_NODE=${PER_NODE:-19000}
RELAY_PAIRS=${RELAY_PAIRS:-50}
WINDOW=${WINDOW:-16}
DURATION=${DURATION:-10s}
HOLD=${HOLD:-10s}
dir="${1:-$(mktemp -d)}"
mkdir -p "$dir"
# The single-node relay runs the cluster backend too, beside the cross-node one.
NODE_ARGS=(--idle-timeout 300s --ping-interval 60s) NATS_ALWAYS=1
. scripts/lib/nodes.sh

total=$((NODES * PER_NODE))
echo "== cluster idle: $NODES nodes, $total sockets, pairs across nodes"
start_nodes "$NODES"
"$work/duet" bench idle --conns "$total" --cross --url "$URLS" --server-pid "$NODE_PIDS" \
  --hold "$HOLD" --timeout 15m --json "$dir/cluster-idle-duet.json" || echo "(finished with errors)"
stop_nodes

echo "== cross-node relay: 2 nodes on CPU 0, generator on CPU 1"
start_nodes 2 "${srv_pin[@]}"
"${gen_pin[@]}" "$work/duet" bench relay --pairs "$RELAY_PAIRS" --window "$WINDOW" --duration "$DURATION" \
  --cross --url "$URLS" --json "$dir/cluster-relay-duet.json" --quiet || echo "(finished with errors)"
stop_nodes

echo "== single-node relay, same settings"
start_nodes 1 "${srv_pin[@]}"
"${gen_pin[@]}" "$work/duet" bench relay --pairs "$RELAY_PAIRS" --window "$WINDOW" --duration "$DURATION" \
  --url "$URLS" --json "$dir/cluster-single-duet.json" --quiet || echo "(finished with errors)"
stop_nodes
echo "summaries in $dir"
