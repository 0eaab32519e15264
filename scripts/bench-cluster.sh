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
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/duet" ./cmd/duet
ulimit -n "$(ulimit -Hn)"

srv_pin=() gen_pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  srv_pin=(taskset -c 0) gen_pin=(taskset -c 1)
fi

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# start_nodes N PIN...: N clustered nodes; sets URLS (comma-separated), NODE_PIDS.
start_nodes() {
  local n="$1"; shift
  local pin=("$@")
  local nats="127.0.0.1:$(free_port)"
  URLS="" NODE_PIDS=""
  for i in $(seq 1 "$n"); do
    local log="$work/node-$i.log" extra=()
    if [ "$i" -eq 1 ]; then
      extra=(--nats-embedded --nats-embedded-listen "$nats" --nats-store-dir "$work/nats")
    else
      extra=(--nats-url "nats://$nats")
    fi
    : >"$log"
    "${pin[@]}" "$work/duet" serve --listen 127.0.0.1:0 --node-id "node$i" --rate-limit 0 --max-connections 0 \
      --idle-timeout 300s --ping-interval 60s --log-format json "${extra[@]}" >"$log" 2>&1 &
    pids+=("$!")
    NODE_PIDS="${NODE_PIDS:+$NODE_PIDS,}$!"
    local addr=""
    for _ in $(seq 150); do
      addr="$(grep '"duet listening"' "$log" | grep -o '127\.0\.0\.1:[0-9]\+' | head -1 || true)"
      [ -n "$addr" ] && break
      sleep 0.1
    done
    [ -n "$addr" ] || { echo "node $i did not start:"; cat "$log"; exit 1; }
    URLS="${URLS:+$URLS,}ws://$addr/App/websocket"
  done
}

# stop_nodes: SIGTERM to every node but the first, then the first, which
# hosts NATS and must outlive the others' drains.
stop_nodes() {
  local all=(${NODE_PIDS//,/ })
  for p in "${all[@]:1}"; do kill "$p" 2>/dev/null || true; done
  for p in "${all[@]:1}"; do wait "$p" 2>/dev/null || true; done
  kill "${all[0]}" 2>/dev/null || true
  wait "${all[0]}" 2>/dev/null || true
}

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
