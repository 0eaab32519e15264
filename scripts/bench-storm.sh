#!/usr/bin/env bash
# A reconnect storm: CONNS sockets in calls (joined in pairs as duet's SDKs
# join: resumable, with a call session), the server killed with SIGKILL and
# started again on its port, every socket back within SPREAD of losing its own.
# Plain ws:// and wss:// (clients resume their TLS sessions, as browsers do,
# from tickets the restarted server still accepts: the ticket secret is kept in
# data_dir). Writes the "storm" section of docs/benchmarks.md:
#   - the time until every member is back in its room, and each one's outage;
#   - the restarted server's peak RSS (VmHWM) and its RSS once all are back;
#   - stop messages received after the restart (a call that survives the
#     server must see none) and members told their partner's session again.
#
#   scripts/bench-storm.sh            # CONNS=16000, about 3 minutes
#   QUICK=1 scripts/bench-storm.sh    # 2,000 sockets, printed, docs untouched
#
# The server runs pinned to CPU 0, the generator (two worker processes, each
# from its own 127.0.0.x address) to CPU 1, both under nice. SCHEMES="wss"
# runs one half only; LOGS=DIR keeps the servers' logs and the generator's
# output (which names the first members that received stop, with what they
# and their partners went through).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-16000}
SPREAD=${SPREAD:-1s}
OUT=${OUT:-docs/benchmarks.md}
SCHEMES=${SCHEMES:-ws wss}
LOGS=${LOGS:-}
if [ -n "${QUICK:-}" ]; then
  CONNS=2000
  OUT=/dev/stdout
fi

work="$(mktemp -d)"
srvpid=""
cleanup() {
  [ -n "$srvpid" ] && kill -9 "$srvpid" 2>/dev/null || true
  if [ -n "$LOGS" ]; then mkdir -p "$LOGS" && cp "$work"/*.log "$work"/storm-*.txt "$work"/*.json "$LOGS"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

echo "building duet into $work"
go build -o "$work/duet" ./cmd/duet
srv=(nice taskset -c 0) gen=(nice taskset -c 1)
if ! command -v taskset >/dev/null || [ "$(nproc)" -lt 2 ]; then srv=(nice) gen=(nice); fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
port="$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')"

status() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }
# Connections the kernel refused because an accept queue was full (TcpExt
# ListenOverflows): their clients' SYNs are sent again 1, 3, 7... s later.
listen_overflows() {
  awk '/^TcpExt:/ { if (!seen) { for (i = 1; i <= NF; i++) h[i] = $i; seen = 1; next }
                    for (i = 1; i <= NF; i++) if (h[i] == "ListenOverflows") print $i }' /proc/net/netstat
}

start_server() {
  "${srv[@]}" "$work/duet" --listen "127.0.0.1:$port" --rate-limit 0 --max-connections 0 --log-format json \
    --data-dir "$work/data" "$@" >>"$work/server.log" 2>&1 &
  srvpid=$!
  for _ in $(seq 200); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
    sleep 0.02
  done
  echo "the server did not start"; tail "$work/server.log"; exit 1
}

# storm NAME SCHEME [SERVER ARGS]
storm() {
  local name="$1" scheme="$2"; shift 2
  local extra=()
  # The generator's cores are few: X25519 alone spares it the post-quantum
  # key shares (the server's cost per handshake drops by about a third too;
  # the TLS section of docs/benchmarks.md has both).
  [ "$scheme" = wss ] && extra=(--insecure --tls-resume --tls-curve x25519)
  echo "== storm $name: $CONNS sockets"
  start_server "$@"
  rm -f "$work/ready"
  "${gen[@]}" "$work/duet" bench storm --conns "$CONNS" --workers 2 --spread "$SPREAD" --ready-file "$work/ready" \
    --url "$scheme://127.0.0.1:$port/App/websocket" --json "$work/storm-$name.json" --quiet "${extra[@]}" \
    >"$work/storm-$name.txt" 2>&1 &
  local genpid=$!
  while [ ! -f "$work/ready" ]; do
    kill -0 "$genpid" 2>/dev/null || { cat "$work/storm-$name.txt"; exit 1; }
    sleep 0.2
  done
  local before; before="$(status "$srvpid" VmRSS)"
  local ov0; ov0="$(listen_overflows)"
  kill -9 "$srvpid"; wait "$srvpid" 2>/dev/null || true
  start_server "$@"
  local restarted="$srvpid"
  wait "$genpid" || true
  cat "$work/storm-$name.txt"
  printf '{"rss_before_kb": %s, "peak_rss_kb": %s, "rss_after_kb": %s, "cpu_s": %s, "listen_overflows": %s}\n' "$before" \
    "$(status "$restarted" VmHWM)" "$(status "$restarted" VmRSS)" \
    "$(awk '{printf "%.2f", ($14+$15)/100}' "/proc/$restarted/stat")" "$(( $(listen_overflows) - ov0 ))" >"$work/mem-$name.json"
  cat "$work/mem-$name.json"
  kill "$restarted"; wait "$restarted" 2>/dev/null || true
  srvpid=""
}

for scheme in $SCHEMES; do
  case "$scheme" in
    ws) storm plain ws ;;
    wss) storm tls wss --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" ;;
  esac
done

python3 - "$work" "$CONNS" "$SPREAD" "$(git describe --always --dirty 2>/dev/null || echo unknown)" >"$work/section.md" <<'PY'
import json, sys
work, conns, spread, rev = sys.argv[1:5]
print("<!-- storm:begin (scripts/bench-storm.sh writes this section) -->")
print("### Reconnect storm")
print()
print(f"Generated by `scripts/bench-storm.sh` (CONNS={conns} SPREAD={spread}): {conns} sockets in calls, joined in pairs")
print("as duet's SDKs join (resumable, with a call session); the server killed with SIGKILL and started again on its")
print(f"port; each socket reconnects at a random moment within {spread} of losing its own and rejoins with its resume")
print("token (which the restarted server no longer knows: the join goes on as a fresh one and `peerSession` tells each")
print("side its partner is the same). Over wss:// the clients resume their TLS sessions, as browsers do (X25519 key")
print("exchange, to spare the generator's one core). Server pinned to CPU 0, generator to CPU 1, under `nice` on a shared")
print(f"machine (load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}; duet {rev}); `net.core.somaxconn` was")
print(f"{open('/proc/sys/net/core/somaxconn').read().strip()}.")
print()
print("| | ws:// | wss:// |")
print("|---|---|---|")
d = {}
for n in ("plain", "tls"):
    try:
        d[n] = (json.load(open(f"{work}/storm-{n}.json")), json.load(open(f"{work}/mem-{n}.json")))
    except (OSError, ValueError):
        d[n] = None
def cell(n, f):
    if not d[n]:
        return "(no result)"
    s, m = d[n]
    return f(s, m)
rows = [
    ("members back in their room", lambda s, m: f"{s.get('storm_back', 0)} of {s.get('storm_lost', 0)}"),
    ("every member back, from the first loss", lambda s, m: f"{s.get('storm_all_back_ms', 0)/1000:.1f} s"),
    ("outage per member, p50 / p99", lambda s, m: f"{s.get('p50_ms', 0)/1000:.2f} / {s.get('p99_ms', 0)/1000:.2f} s"),
    ("`stop` received after the restart", lambda s, m: f"{s.get('storm_stops', 0)}"),
    ("members told their partner's session again", lambda s, m: f"{s.get('storm_know_partner', 0)}"),
    ("members whose socket was lost again after they were back", lambda s, m: f"{s.get('storm_lost_again', 0)}"),
    ("members with a connect that failed after its join was sent", lambda s, m: f"{s.get('storm_join_failed', 0)}"),
    ("restarted server's CPU time until all were back", lambda s, m: f"{m.get('cpu_s', 0)} s"),
    ("connections refused by a full accept queue (SYN retried later)", lambda s, m: f"{m.get('listen_overflows', 0)}"),
    ("server RSS before the kill", lambda s, m: f"{m['rss_before_kb']/1024:.0f} MiB"),
    ("restarted server: peak RSS (VmHWM)", lambda s, m: f"{m['peak_rss_kb']/1024:.0f} MiB"),
    ("restarted server: RSS with every member back", lambda s, m: f"{m['rss_after_kb']/1024:.0f} MiB"),
    ("errors", lambda s, m: f"{s.get('errors', 0)}" + (f" ({s.get('first_error')})" if s.get('errors') else "")),
]
for label, f in rows:
    print(f"| {label} | {cell('plain', f)} | {cell('tls', f)} |")
print()
print("<!-- storm:end -->")
PY

if [ "$OUT" = /dev/stdout ] || [ ! -f "$OUT" ]; then
  cat "$work/section.md" >"$OUT"
elif grep -q '<!-- storm:begin' "$OUT"; then
  python3 - "$OUT" "$work/section.md" <<'PY'
import re, sys
out, sec = sys.argv[1], open(sys.argv[2]).read()
s = open(out).read()
s = re.sub(r'<!-- storm:begin.*?<!-- storm:end -->\n?', lambda m: sec, s, flags=re.S)
open(out, 'w').write(s)
PY
else
  { echo; cat "$work/section.md"; } >>"$OUT"
fi
echo "wrote $OUT" >&2
