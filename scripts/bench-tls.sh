#!/usr/bin/env bash
# TLS side by side, in one run on this machine, and writes the "tls" section
# of docs/benchmarks.md:
#   - idle joined sockets held past a ping round: duet on ws://, duet on wss://
#     with its own TLS, nginx terminating TLS in front of duet, and nginx in
#     front of the PeerJS server (server RSS per socket, per process);
#   - TLS handshakes per second and per server CPU-second, full and resumed:
#     duet against nginx, the same ECDSA P-256 certificate and key exchange.
#
#   scripts/bench-tls.sh              # the full run (about 8 minutes on 2 cores)
#   QUICK=1 scripts/bench-tls.sh      # small and short, printed, docs untouched
#
# Servers run pinned to CPU 0, the generator (duet bench) to CPU 1, both under
# nice. nginx and the PeerJS server are what a "Debian nginx in front" deployment
# runs: nginx 1.22 from Debian (apt-get install nginx), default proxy settings,
# two workers (each proxied socket is two descriptors, and one process may hold
# only about 20,000 here). Settings: CONNS (10000), HOLD (20s: past duet's first
# ping round), HS_DURATION (10s), HS_PARALLEL (32), ROUNDS (3: the handshake
# runs alternate servers, the report takes each one's median), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-10000}
HOLD=${HOLD:-20s}
HS_DURATION=${HS_DURATION:-10s}
HS_PARALLEL=${HS_PARALLEL:-32}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-docs/benchmarks.md}
if [ -n "${QUICK:-}" ]; then
  CONNS=1000 HOLD=3s HS_DURATION=2s ROUNDS=1
  OUT=/dev/stdout
fi
command -v nginx >/dev/null || { echo "nginx is needed: apt-get install nginx"; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

echo "building duet into $work"
go build -o "$work/duet" ./cmd/duet
[ -d bench/peerjs/node_modules ] || (cd bench/peerjs && npm ci --no-audit --no-fund --loglevel=error)

srv=(nice taskset -c 0) gen=(nice taskset -c 1)
if ! command -v taskset >/dev/null || [ "$(nproc)" -lt 2 ]; then srv=(nice) gen=(nice); fi

# The certificate every server uses: ECDSA P-256, for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1"; exit 1
}

# start_duet PORT [ARGS]: duet on 127.0.0.1:PORT; sets DUET_PID.
start_duet() {
  local port="$1"; shift
  "${srv[@]}" "$work/duet" --listen "127.0.0.1:$port" --rate-limit 0 --max-connections 0 --idle-timeout 120s \
    --log-format json --data-dir "$work/data" "$@" >>"$work/duet.log" 2>&1 &
  DUET_PID=$!; pids+=("$DUET_PID")
  wait_port "$port"
}

# start_nginx PORT WORKERS UPSTREAM: nginx terminating TLS on PORT, proxying
# to 127.0.0.1:UPSTREAM (none: answers every request itself); sets NGINX_PIDS.
start_nginx() {
  local port="$1" workers="$2" up="$3" loc
  if [ "$up" = none ]; then
    loc='return 200 "ok\n";'
  else
    loc="proxy_pass http://127.0.0.1:$up; proxy_http_version 1.1;
         proxy_set_header Upgrade \$http_upgrade; proxy_set_header Connection upgrade;
         proxy_read_timeout 3600s;"
  fi
  cat >"$work/nginx.conf" <<EOF
worker_processes $workers;
worker_rlimit_nofile 20000;
pid $work/nginx.pid;
error_log $work/nginx-error.log error;
events { worker_connections 19000; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$port ssl reuseport;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { $loc }
  }
}
EOF
  "${srv[@]}" nginx -c "$work/nginx.conf" -e "$work/nginx-error.log" -g 'daemon off;' &
  pids+=("$!")
  wait_port "$port"
  for _ in $(seq 50); do [ -s "$work/nginx.pid" ] && break; sleep 0.1; done
  local master; master="$(cat "$work/nginx.pid")"
  NGINX_PIDS="$master,$(pgrep -d, -P "$master")"
}

stop_all() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  pids=()
  rm -f "$work/nginx.pid"
}

# idle NAME URL PIDS: hold CONNS joined sockets.
idle() {
  local name="$1" url="$2" pids_="$3" proto="${4:-duet}"
  echo "== idle $name ($url)"
  "${gen[@]}" "$work/duet" bench idle --protocol "$proto" --conns "$CONNS" --hold "$HOLD" --workers 2 --url "$url" \
    --insecure --server-pid "$pids_" --json "$work/idle-$name.json" --quiet || echo "(finished with errors)"
}

p1="$(free_port)"; start_duet "$p1"
idle duet-ws "ws://127.0.0.1:$p1/App/websocket" "$DUET_PID"; stop_all

p1="$(free_port)"; start_duet "$p1" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
idle duet-wss "wss://127.0.0.1:$p1/App/websocket" "$DUET_PID"; stop_all

p1="$(free_port)" p2="$(free_port)"; start_duet "$p1"; start_nginx "$p2" 2 "$p1"
idle nginx-duet "wss://127.0.0.1:$p2/App/websocket" "$NGINX_PIDS,$DUET_PID"
echo "$NGINX_PIDS" >"$work/nginx-duet.pids"; stop_all

p1="$(free_port)" p2="$(free_port)"
"${srv[@]}" node bench/peerjs/server.mjs 127.0.0.1 "$p1" >"$work/peerjs.log" 2>&1 &
PEER_PID=$!; pids+=("$PEER_PID"); wait_port "$p1"
start_nginx "$p2" 2 "$p1"
idle nginx-peerjs "wss://127.0.0.1:$p2/" "$NGINX_PIDS,$PEER_PID" peerjs
echo "$NGINX_PIDS" >"$work/nginx-peerjs.pids"; stop_all

# Handshakes: rounds alternate the servers so a noisy moment hits both.
hs() {
  local name="$1" url="$2" pid="$3"; shift 3
  echo "== handshakes $name $*"
  "${gen[@]}" "$work/duet" bench handshake --url "$url" --insecure --parallel "$HS_PARALLEL" --duration "$HS_DURATION" \
    --warmup 2s --server-pid "$pid" --json "$work/hs-$name.json" --quiet "$@" || echo "(finished with errors)"
}
for r in $(seq "$ROUNDS"); do
  p1="$(free_port)"; start_duet "$p1" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
  for mode in full resumed; do
    extra=(); [ "$mode" = resumed ] && extra=(--tls-resume)
    hs "duet-x25519-$mode-r$r" "wss://127.0.0.1:$p1/App/websocket" "$DUET_PID" --tls-curve x25519 "${extra[@]}"
    hs "duet-hybrid-$mode-r$r" "wss://127.0.0.1:$p1/App/websocket" "$DUET_PID" "${extra[@]}"
  done
  stop_all
  p2="$(free_port)"; start_nginx "$p2" 1 none
  for mode in full resumed; do
    extra=(); [ "$mode" = resumed ] && extra=(--tls-resume)
    hs "nginx-x25519-$mode-r$r" "https://127.0.0.1:$p2/" "$(cat "$work/nginx.pid")" --tls-curve x25519 "${extra[@]}"
  done
  stop_all
done

{
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) ($(nproc) cores); kernel $(uname -r)"
  echo "Go: $(go version | cut -d' ' -f3); nginx: $(nginx -v 2>&1 | cut -d/ -f2) with $(openssl version | cut -d' ' -f1-2); Node.js $(node --version), peer $(node -p "require('./bench/peerjs/node_modules/peer/package.json').version")"
  echo "duet: $(git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$work/machine.txt"

python3 - "$work" "$CONNS" "$HOLD" "$ROUNDS" "$HS_DURATION" "$HS_PARALLEL" >"$work/section.md" <<'PY'
import json, os, statistics, sys
work, conns, hold, rounds, dur, par = sys.argv[1:7]
rounds = int(rounds)
def load(n):
    try:
        return json.load(open(f"{work}/{n}.json"))
    except (OSError, ValueError):
        return None
def pids(n):
    try:
        return set(p for p in open(f"{work}/{n}.pids").read().strip().split(",") if p)
    except OSError:
        return set()
kib = lambda b: b / 1024
print("<!-- tls:begin (scripts/bench-tls.sh writes this section) -->")
print("### TLS: idle sockets and handshakes")
print()
print(f"Generated by `scripts/bench-tls.sh` (CONNS={conns} HOLD={hold} ROUNDS={rounds} HS_DURATION={dur} HS_PARALLEL={par}).")
print("Servers pinned to CPU 0, the generator (`duet bench`, two worker processes on their own 127.0.0.x addresses)")
print("to CPU 1, all under `nice`; the machine is shared, so absolute rates move with its load.")
print("```")
print(open(f"{work}/machine.txt").read().strip())
print("```")
print()
print(f"**Idle joined sockets**, {conns} held {hold} (past duet's first ping round): server resident memory per socket,")
print("the growth of each process's RSS from before the sockets connected to the end of the hold.")
print()
print("| server | RSS per socket (KiB) | of which the TLS proxy | of which the signaling server | goroutines per socket | errors |")
print("|---|---|---|---|---|---|")
rows = [("duet, ws:// (no TLS)", "duet-ws"), ("duet, wss:// (its own TLS)", "duet-wss"),
        ("nginx (TLS) in front of duet", "nginx-duet"), ("nginx (TLS) in front of the PeerJS server", "nginx-peerjs")]
for label, n in rows:
    s = load(f"idle-{n}")
    if not s:
        print(f"| {label} | (no result) | | | | |")
        continue
    by = s.get("server_rss_per_socket_by_pid") or {}
    px = pids(n)
    proxy = sum(v for p, v in by.items() if p in px)
    rest = sum(v for p, v in by.items() if p not in px)
    g = s.get("server_goroutines_per_socket")
    gs = f"{g:.2f}" if g is not None and n.startswith("duet") else "—"
    if by:
        print(f"| {label} | {kib(s['server_rss_per_socket_bytes']):.2f} | {kib(proxy):.2f} | {kib(rest):.2f} | {gs} | {s['errors']} |")
    else:
        print(f"| {label} | {kib(s.get('server_rss_per_socket_bytes', 0)):.2f} | — | {kib(s.get('server_rss_per_socket_bytes', 0)):.2f} | {gs} | {s['errors']} |")
print()
def med(prefix):
    runs = [load(f"hs-{prefix}-r{r}") for r in range(1, rounds + 1)]
    runs = [r for r in runs if r and r.get("per_cpu_s")]
    if not runs:
        return None
    runs.sort(key=lambda r: r["per_cpu_s"])
    m = runs[len(runs) // 2]
    m["all"] = ", ".join(f"{r['per_cpu_s']:.0f}" for r in runs)
    return m
print(f"**TLS handshakes** (TLS 1.3, ECDSA P-256 certificate; {par} dialers connect, complete a handshake and close, for {dur};")
print("resumed: from the session ticket of an earlier handshake, as a client reconnecting does). Handshakes per server")
print("CPU-second is the rate one core sustains: the count divided by the server's user and system CPU time in the")
print(f"window, from /proc; the median of {rounds} rounds, with every round's figure in brackets.")
print()
print("| server | key exchange | full: per CPU-second | full: per second | resumed: per CPU-second | resumed: per second |")
print("|---|---|---|---|---|---|")
for label, n, kx in [("duet", "duet-x25519", "X25519"), ("nginx", "nginx-x25519", "X25519"),
                     ("duet", "duet-hybrid", "X25519MLKEM768 (Go's default)")]:
    f, r = med(f"{n}-full"), med(f"{n}-resumed")
    cell = lambda s, k: f"{s[k]:.0f}" + (f" ({s['all']})" if k == "per_cpu_s" else "") if s else "—"
    print(f"| {label} | {kx} | {cell(f, 'per_cpu_s')} | {cell(f, 'per_s')} | {cell(r, 'per_cpu_s')} | {cell(r, 'per_s')} |")
print()
print("<!-- tls:end -->")
PY

if [ "$OUT" = /dev/stdout ] || [ ! -f "$OUT" ]; then
  cat "$work/section.md" >"$OUT"
elif grep -q '<!-- tls:begin' "$OUT"; then
  python3 - "$OUT" "$work/section.md" <<'PY'
import re, sys
out, sec = sys.argv[1], open(sys.argv[2]).read()
s = open(out).read()
s = re.sub(r'<!-- tls:begin.*?<!-- tls:end -->\n?', lambda m: sec, s, flags=re.S)
open(out, 'w').write(s)
PY
else
  { echo; cat "$work/section.md"; } >>"$OUT"
fi
echo "wrote $OUT" >&2
