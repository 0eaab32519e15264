# Sourced by the benchmarks that run duet nodes on this machine
# (bench-cluster.sh, bench-quality.sh), from the repository's root: a
# scratch directory with a fresh build of duet, removed on exit with every
# process started; CPU pins (servers on CPU 0, the generator on CPU 1); and
# nodes clustered on a NATS server embedded in the first.
#
# Sets work, pids, srv_pin and gen_pin. Reads NODE_ARGS (an array: more
# `duet serve` flags) and NATS_ALWAYS (1: a single node runs the cluster
# backend too).

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

# start_nodes N [PIN...]: N nodes, clustered when N > 1 (or NATS_ALWAYS=1);
# sets URLS (comma-separated WebSocket URLs of app App) and NODE_PIDS.
start_nodes() {
  local n="$1"; shift
  local pin=("$@")
  local nats="127.0.0.1:$(free_port)"
  URLS="" NODE_PIDS=""
  for i in $(seq 1 "$n"); do
    local log="$work/node-$i.log" extra=()
    if [ "$n" -gt 1 ] || [ "${NATS_ALWAYS:-0}" = 1 ]; then
      if [ "$i" -eq 1 ]; then
        extra=(--nats-embedded --nats-embedded-listen "$nats" --nats-store-dir "$(mktemp -d "$work/nats.XXXXXX")")
      else
        extra=(--nats-url "nats://$nats")
      fi
    fi
    : >"$log"
    "${pin[@]}" "$work/duet" serve --listen 127.0.0.1:0 --node-id "node$i" --rate-limit 0 --max-connections 0 \
      --log-format json "${NODE_ARGS[@]}" "${extra[@]}" >"$log" 2>&1 &
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
