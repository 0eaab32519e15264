#!/usr/bin/env bash
# Runs duet's benchmark scenarios side by side, in one run on this machine,
# against duet, the PeerJS server (npm package "peer") and two bare relays,
# and writes docs/benchmarks.md.
#
#   scripts/bench-compare.sh            # the full run, with scripts/bench-cluster.sh (about 17 minutes on a 2-core machine)
#   QUICK=1 scripts/bench-compare.sh    # small and short, to try it out
#
# Each server runs pinned to CPU 0 and the generator to CPU 1 (taskset), so
# the server under test has one core and the generator's cost does not hide
# the server's. Settings: IDLE_CONNS, IDLE_STEPS (the smaller idle runs of the
# memory plot), ATTACK_CONNS, ATTACK_WAVES, RELAY_PAIRS, WINDOW, HALF_PAIRS,
# HALF_WINDOW, SETUP_PAIRS,
# DURATION, HOLD, OUT; SKIP_CLUSTER=1 leaves out the cluster part;
# RESULTS=DIR keeps the JSON summaries there. Relay and setup run ROUNDS
# (3) rounds of every target in turn; the report shows each one's median.
set -euo pipefail
cd "$(dirname "$0")/.."

IDLE_CONNS=${IDLE_CONNS:-19000}
IDLE_STEPS=${IDLE_STEPS:-2000 5000 10000}
ATTACK_CONNS=${ATTACK_CONNS:-10000}
ATTACK_WAVES=${ATTACK_WAVES:-1}
RELAY_PAIRS=${RELAY_PAIRS:-50}
WINDOW=${WINDOW:-16}
SETUP_PAIRS=${SETUP_PAIRS:-100}
HALF_PAIRS=${HALF_PAIRS:-10}
HALF_WINDOW=${HALF_WINDOW:-64}
DURATION=${DURATION:-10s}
# 20 s: past duet's first ping round (ping_interval 15 s, ±10%), so the idle
# and attack figures include what pinging every socket costs.
HOLD=${HOLD:-20s}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-docs/benchmarks.md}
if [ -n "${QUICK:-}" ]; then
  IDLE_CONNS=2000 IDLE_STEPS="500 1000" ATTACK_CONNS=1000 RELAY_PAIRS=10 HALF_PAIRS=4 SETUP_PAIRS=10 DURATION=2s HOLD=2s ROUNDS=1
  OUT=${OUT_QUICK:-/dev/stdout}
fi
SVG_DIR=${SVG_DIR:-$(dirname "$OUT")} # the plots; with QUICK, the work directory

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "building duet and bare-relay into $work"
go build -o "$work/duet" ./cmd/duet
go build -o "$work/bare-relay" ./cmd/bare-relay
if [ ! -d bench/peerjs/node_modules ]; then
  echo "installing the PeerJS server (npm package peer)"
  (cd bench/peerjs && npm ci --no-audit --no-fund --loglevel=error)
fi

srv_pin=() gen_pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  srv_pin=(taskset -c 0) gen_pin=(taskset -c 1)
fi
# Each server may hold as many files as the hard limit allows.
ulimit -n "$(ulimit -Hn)"

# start_server TARGET: starts it on a free loopback port; sets PID and URL.
start_server() {
  local log="$work/server-$1.log"
  case "$1" in
    duet) "${srv_pin[@]}" "$work/duet" --listen 127.0.0.1:0 --rate-limit 0 --max-connections 0 \
            --log-format json --idle-timeout 120s >"$log" 2>&1 & ;;
    peerjs) "${srv_pin[@]}" node bench/peerjs/server.mjs 127.0.0.1 0 >"$log" 2>&1 & ;;
    bare) "${srv_pin[@]}" "$work/bare-relay" --listen 127.0.0.1:0 --engine duet >"$log" 2>&1 & ;;
    gorilla) "${srv_pin[@]}" "$work/bare-relay" --listen 127.0.0.1:0 --engine gorilla >"$log" 2>&1 & ;;
  esac
  PID=$!
  pids+=("$PID")
  local addr=""
  for _ in $(seq 100); do
    addr="$(grep -o '127\.0\.0\.1:[0-9]\+' "$log" | head -1 || true)"
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "$1 did not start:"; cat "$log"; exit 1; }
  case "$1" in
    duet) URL="ws://$addr/App/websocket"; PROTO=duet ;;
    peerjs) URL="ws://$addr/"; PROTO=peerjs ;;
    bare|gorilla) URL="ws://$addr/ws"; PROTO=bare ;;
  esac
}

stop_server() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }

# bench NAME TARGET ARGS...: one scenario against a fresh server.
bench() {
  local name="$1" target="$2"; shift 2
  start_server "$target"
  echo "== $name against $target ($URL)"
  "${gen_pin[@]}" "$work/duet" bench "$@" --protocol "$PROTO" --url "$URL" --server-pid "$PID" \
    --json "$work/$name-$target.json" --quiet || echo "(finished with errors)"
  stop_server
}

# rounds NAME KEY ARGS...: ROUNDS rounds, each running every target in turn
# (so a noisy moment hits all of them alike); each target's median round by
# KEY (per_s, or p99_ms for a paced run whose rate is fixed) becomes
# NAME-TARGET.json.
rounds() {
  local name="$1" key="$2"; shift 2
  for r in $(seq "$ROUNDS"); do
    for t in "${targets[@]}"; do bench "$name-r$r" "$t" "$@"; done
  done
  for t in "${targets[@]}"; do
    python3 - "$work" "$name" "$t" "$ROUNDS" "$key" <<'PY'
import json, shutil, sys
work, name, t, n, key = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
runs = []
for r in range(1, n + 1):
    try:
        runs.append((json.load(open(f"{work}/{name}-r{r}-{t}.json"))[key], r))
    except (OSError, KeyError, ValueError):
        pass
if runs:
    runs.sort()
    shutil.copy(f"{work}/{name}-r{runs[len(runs) // 2][1]}-{t}.json", f"{work}/{name}-{t}.json")
PY
  done
}

targets=(duet peerjs bare gorilla)
for t in "${targets[@]}"; do
  for n in $IDLE_STEPS; do bench "idle-$n" "$t" idle --conns "$n" --hold "$HOLD"; done
  bench "idle-$IDLE_CONNS" "$t" idle --conns "$IDLE_CONNS" --hold "$HOLD"
  cp "$work/idle-$IDLE_CONNS-$t.json" "$work/idle-$t.json" 2>/dev/null || true
  for a in attack-header attack-byte; do
    bench "$a" "$t" "$a" --conns "$ATTACK_CONNS" --waves "$ATTACK_WAVES" --hold "$HOLD"
  done
done
rounds relay per_s relay --pairs "$RELAY_PAIRS" --window "$WINDOW" --duration "$DURATION"
half="$(python3 -c "import json;print(int(json.load(open('$work/relay-duet.json'))['per_s']/2))")"
# The latency run offers half of duet's peak, paced, from fewer pairs: one
# generator core cannot wake a hundred paced senders thousands of times a
# second and still time messages to the millisecond.
rounds relay-half p99_ms relay --pairs "$HALF_PAIRS" --window "$HALF_WINDOW" --duration "$DURATION" --rate "$half"
rounds setup per_s setup --pairs "$SETUP_PAIRS" --duration "$DURATION"

cluster=()
if [ -z "${SKIP_CLUSTER:-}" ]; then
  if [ -n "${QUICK:-}" ]; then
    NODES=3 PER_NODE=1000 RELAY_PAIRS="$RELAY_PAIRS" DURATION="$DURATION" HOLD="$HOLD" scripts/bench-cluster.sh "$work/cluster"
  else
    RELAY_PAIRS="$RELAY_PAIRS" WINDOW="$WINDOW" DURATION="$DURATION" HOLD="$HOLD" scripts/bench-cluster.sh "$work/cluster"
  fi
  cluster=(--cluster-dir "$work/cluster")
fi

{
  echo "CPU:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores)"
  echo "Memory:   $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "Kernel:   $(uname -sr)"
  echo "Go:       $(go version | cut -d' ' -f3-)"
  echo "Node.js:  $(node --version)"
  echo "duet:     $(git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "PeerJS:   peer $(node -p "require('./bench/peerjs/node_modules/peer/package.json').version")"
  echo "Settings: ROUNDS=$ROUNDS IDLE_CONNS=$IDLE_CONNS IDLE_STEPS=\"$IDLE_STEPS\" ATTACK_CONNS=$ATTACK_CONNS ATTACK_WAVES=$ATTACK_WAVES RELAY_PAIRS=$RELAY_PAIRS WINDOW=$WINDOW HALF_PAIRS=$HALF_PAIRS HALF_WINDOW=$HALF_WINDOW SETUP_PAIRS=$SETUP_PAIRS DURATION=$DURATION HOLD=$HOLD"
  echo "Pinning:  server ${srv_pin[*]:-none}, generator ${gen_pin[*]:-none}"
} >"$work/machine.txt"
notes=()
[ -f docs/benchmarks-notes.md ] && notes=(--notes docs/benchmarks-notes.md)
[ "$SVG_DIR" = /dev ] && SVG_DIR="$work"
"$work/duet" bench report --dir "$work" --out "$OUT" --svg-dir "$SVG_DIR" --machine "$work/machine.txt" "${notes[@]}" "${cluster[@]}"
if [ -n "${RESULTS:-}" ]; then # keep the summaries, e.g. to redo the report with new notes
  mkdir -p "$RESULTS" && cp -r "$work"/*.json "$work/machine.txt" "$RESULTS"/
  [ -d "$work/cluster" ] && cp -r "$work/cluster" "$RESULTS"/
fi
echo "wrote $OUT"
