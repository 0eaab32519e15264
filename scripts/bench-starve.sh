#!/usr/bin/env bash
# Liveness under real CPU starvation (issue #14, case 6): NODES duet nodes
# pinned together on CPU 0 (the first embeds NATS) hold CONNS sockets in
# pairs split across nodes, generated from CPU 1; when the generator ends
# it closes them all at once, and the burst of leaves starves the nodes.
# Nothing is killed, so every node death counted is a spurious one (each
# sends stop to partners that should not get one). Prints, per round, the
# deaths and the liveness near misses summed over the nodes.
#
#   scripts/bench-starve.sh                  # this build
#   DUET_BIN=/path/to/old/duet scripts/bench-starve.sh
#
# Settings: NODES (5), CONNS (40000), ROUNDS (3), HOLD (5s).
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-5}
CONNS=${CONNS:-40000}
ROUNDS=${ROUNDS:-3}
HOLD=${HOLD:-5s}
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/duet" ./cmd/duet # the generator, and the nodes unless DUET_BIN
bin="${DUET_BIN:-$work/duet}"
ulimit -n "$(ulimit -Hn)"
pin=() gen=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin=(taskset -c 0) gen=(taskset -c 1); fi
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

metric_sum() { # NAME: sum of a sample over the nodes
  local total=0 v
  for a in "${ADDRS[@]}"; do
    v=$(curl -s "http://$a/metrics" | awk -v n="$1" '$1==n {print $2}')
    total=$(python3 -c "print(${total}+${v:-0})")
  done
  echo "$total"
}

for round in $(seq 1 "$ROUNDS"); do
  nats="127.0.0.1:$(free_port)"
  ADDRS=() URLS="" pids=()
  for i in $(seq 1 "$NODES"); do
    log="$work/node-$i.log" extra=()
    if [ "$i" -eq 1 ]; then
      extra=(--nats-embedded --nats-embedded-listen "$nats" --nats-store-dir "$work/nats-$round")
    else
      extra=(--nats-url "nats://$nats")
    fi
    "${pin[@]}" "$bin" serve --listen 127.0.0.1:0 --node-id "node$i" --rate-limit 0 --max-connections 0 \
      --idle-timeout 300s --ping-interval 60s --log-format json "${extra[@]}" >"$log" 2>&1 &
    pids+=("$!")
    addr=""
    for _ in $(seq 150); do
      addr="$(grep '"duet listening"' "$log" | grep -o '127\.0\.0\.1:[0-9]\+' | head -1 || true)"
      [ -n "$addr" ] && break
      sleep 0.1
    done
    [ -n "$addr" ] || { echo "node $i did not start:"; cat "$log"; exit 1; }
    ADDRS+=("$addr")
    URLS="${URLS:+$URLS,}ws://$addr/App/websocket"
  done
  sleep 2 # every node hears every other
  "${gen[@]}" "$work/duet" bench idle --conns "$CONNS" --cross --url "$URLS" --hold "$HOLD" --timeout 10m \
    >"$work/gen.log" 2>&1 || echo "(generator finished with errors)"
  sleep 5 # the aftermath of the mass disconnect
  echo "round $round: $CONNS sockets on $NODES nodes: node deaths $(metric_sum duet_cluster_node_deaths_total)," \
    "near misses: late_heartbeat $(metric_sum 'duet_cluster_liveness_near_misses_total{kind="late_heartbeat"}')" \
    "probe_answered $(metric_sum 'duet_cluster_liveness_near_misses_total{kind="probe_answered"}')" \
    "late_tick $(metric_sum 'duet_cluster_liveness_near_misses_total{kind="late_tick"}')"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
done
