#!/usr/bin/env bash
# Measures what one duet node holds on this machine and prints a capacity
# report (markdown): memory per idle socket in user space and in the kernel at
# several sizes (with the line through them, to show it is linear), the same for
# wss://, TLS handshakes per CPU-second, the TURN relay's packets per CPU-second
# (when coturn's turnutils_uclient is installed), the file and kernel limits of
# this machine, and what 100k, 1M and 3M sockets would need — extrapolated from
# the measured slopes, and said to be.
#
#   scripts/capacity.sh                    # about 6 minutes
#   SIZES="2000 4000" HOLD=5s scripts/capacity.sh   # a quick look
#   OUT=capacity-report.md scripts/capacity.sh
#
# Settings: SIZES (idle socket counts, "2000 5000 10000 16000"), TLS_CONNS (10000),
# HOLD (20s: past the first ping round), HS_DURATION (10s), TURN (1: measure the
# relay when turnutils_uclient exists), OUT (stdout). The server runs pinned to
# CPU 0 and the generator to CPU 1 when there are two or more; each generator
# process holds at most 8,000 sockets, from its own 127.0.0.x address.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-2000 5000 10000 16000}
TLS_CONNS=${TLS_CONNS:-10000}
HOLD=${HOLD:-20s}
HS_DURATION=${HS_DURATION:-10s}
TURN=${TURN:-1}
OUT=${OUT:-/dev/stdout}

work="$(mktemp -d)"
srvpid=""
cleanup() {
  [ -n "$srvpid" ] && kill "$srvpid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

echo "building duet into $work" >&2
go build -o "$work/duet" ./cmd/duet
srv=(nice) gen=(nice)
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then srv=(nice taskset -c 0) gen=(nice taskset -c 1); fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

start() {
  local port; port="$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')"
  "${srv[@]}" "$work/duet" --listen "127.0.0.1:$port" --rate-limit 0 --max-connections 0 --idle-timeout 120s \
    --log-format json --data-dir "$work/data" "$@" >>"$work/server.log" 2>&1 &
  srvpid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
  PORT=$port
}
stop() { kill "$srvpid" 2>/dev/null || true; wait "$srvpid" 2>/dev/null || true; srvpid=""; }
workers() { echo $(( ($1 + 7999) / 8000 )); }

for n in $SIZES; do
  echo "== idle ws:// $n sockets" >&2
  start
  "${gen[@]}" "$work/duet" bench idle --conns "$n" --hold "$HOLD" --workers "$(workers "$n")" \
    --url "ws://127.0.0.1:$PORT/App/websocket" --server-pid "$srvpid" --json "$work/idle-$n.json" --quiet >&2 || true
  stop
done
echo "== idle wss:// $TLS_CONNS sockets" >&2
start --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
"${gen[@]}" "$work/duet" bench idle --conns "$TLS_CONNS" --hold "$HOLD" --workers "$(workers "$TLS_CONNS")" --insecure \
  --url "wss://127.0.0.1:$PORT/App/websocket" --server-pid "$srvpid" --json "$work/idle-tls.json" --quiet >&2 || true
for mode in full resumed; do
  extra=(); [ "$mode" = resumed ] && extra=(--tls-resume)
  echo "== TLS handshakes, $mode" >&2
  "${gen[@]}" "$work/duet" bench handshake --url "wss://127.0.0.1:$PORT/App/websocket" --insecure --parallel 32 \
    --duration "$HS_DURATION" --warmup 2s --server-pid "$srvpid" --json "$work/hs-$mode.json" --quiet "${extra[@]}" >&2 || true
done
stop

if [ "$TURN" = 1 ] && command -v turnutils_uclient >/dev/null && [ -x scripts/bench-turn.sh ]; then
  echo "== TURN relay" >&2
  RESULTS="$work/turn" SERVERS=duet LOADS="${TURN_LOADS:-40:1}" OUT=/dev/null scripts/bench-turn.sh >&2 || true
fi

{
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) ($(nproc) cores); memory $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "kernel $(uname -r); Go $(go version | cut -d' ' -f3); duet $(git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$work/machine.txt"
for k in fs.nr_open fs.file-max net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.ipv4.ip_local_port_range \
  net.ipv4.tcp_mem net.ipv4.tcp_rmem net.ipv4.tcp_wmem net.netfilter.nf_conntrack_max vm.max_map_count; do
  printf '%s = %s\n' "$k" "$(sysctl -n "$k" 2>/dev/null | tr '\t' ' ' || echo '(absent)')"
done >"$work/sysctl.txt"
echo "ulimit -n (hard) = $(ulimit -Hn)" >>"$work/sysctl.txt"

python3 - "$work" "$SIZES" "$HOLD" "$TLS_CONNS" >"$OUT" <<'PY'
import glob, json, os, sys
work, sizes, hold, tls_conns = sys.argv[1], [int(x) for x in sys.argv[2].split()], sys.argv[3], int(sys.argv[4])
def load(p):
    try:
        return json.load(open(p))
    except (OSError, ValueError):
        return None
KiB = 1024
print("# duet capacity on this machine")
print()
print("Measured by `scripts/capacity.sh`. Every figure below the line \"extrapolated\" is computed from the")
print("measured ones, not measured.")
print("```")
print(open(f"{work}/machine.txt").read().strip())
print("```")
print()
print(f"## Memory per idle joined socket (held {hold}, past a ping round)")
print()
print("| sockets | server RSS growth (MiB) | per socket (KiB) | Go heap per socket (KiB) | kernel socket slabs per socket end (KiB) | all slab per socket end (KiB) |")
print("|---|---|---|---|---|---|")
pts, kpts = [], []
for n in sizes:
    s = load(f"{work}/idle-{n}.json")
    if not s or not s.get("server_rss_per_socket_bytes"):
        print(f"| {n} | (no result) | | | | |")
        continue
    growth = s["server_rss_per_socket_bytes"] * n
    pts.append((n, growth))
    ks = s.get("kernel_socket_slab_per_socket_bytes", 0) / 2  # two ends on this host
    kpts.append((n, ks * n))
    print(f"| {n} | {growth/2**20:.1f} | {s['server_rss_per_socket_bytes']/KiB:.2f} | {s.get('server_heap_per_socket_bytes', 0)/KiB:.2f} | {ks/KiB:.2f} | {s.get('kernel_slab_per_socket_bytes', 0)/2/KiB:.2f} |")
def fit(p):
    if len(p) < 2:
        return None
    n = len(p); sx = sum(x for x, _ in p); sy = sum(y for _, y in p)
    sxx = sum(x * x for x, _ in p); sxy = sum(x * y for x, y in p)
    b = (n * sxy - sx * sy) / (n * sxx - sx * sx); a = (sy - b * sx) / n
    my = sy / n; ss = sum((y - my) ** 2 for _, y in p); se = sum((y - a - b * x) ** 2 for x, y in p)
    return a, b, (1 - se / ss) if ss else 1.0
fu, fk = fit(pts), fit(kpts)
print()
if fu:
    print(f"Server RSS grows by **{fu[1]/KiB:.2f} KiB per socket** (least-squares line through the sizes above,")
    print(f"fixed part {fu[0]/2**20:.1f} MiB, R² = {fu[2]:.4f}): linear in the number of sockets.")
if fk:
    print(f"The kernel's socket slabs (TCP, sock_inode_cache, filp, dentry, eventpoll) grow by **{fk[1]/KiB:.2f} KiB per")
    print(f"socket end** (R² = {fk[2]:.4f}); a server holds one end per client. TCP buffer pages of idle sockets are")
    print("about nil (the kernel frees a socket's buffers once its queues are empty).")
t = load(f"{work}/idle-tls.json")
if t and t.get("server_rss_per_socket_bytes"):
    print()
    print(f"Over wss:// ({tls_conns} sockets, duet's own TLS): **{t['server_rss_per_socket_bytes']/KiB:.2f} KiB per socket** of server RSS,")
    print(f"{t.get('server_goroutines_per_socket', 0):.2f} goroutines per socket.")
print()
print("## TLS handshakes (TLS 1.3, ECDSA P-256, one server core)")
print()
hs = {m: load(f"{work}/hs-{m}.json") for m in ("full", "resumed")}
for m, s in hs.items():
    if s and s.get("per_cpu_s"):
        print(f"- {m}: **{s['per_cpu_s']:.0f} per server CPU-second** ({s['per_s']:.0f}/s reached, p99 {s['p99_ms']:.1f} ms)")
turn = sorted(glob.glob(f"{work}/turn/*.json"))
tr = None
for p in turn:
    d = load(p)
    if d and d.get("server") == "duet" and d.get("cpu_per_delivered_us"):
        tr = d
if tr:
    print()
    print("## TURN relay (duet's embedded TURN, one core, turnutils_uclient)")
    print()
    pps = 1e6 / tr["cpu_per_delivered_us"]
    mbit = pps * tr.get("packet_bytes", 1200) * 8 / 1e6
    print(f"- {tr['cpu_per_delivered_us']:.1f} µs of server CPU per relayed packet delivered: **about {pps:,.0f} packets/s or {mbit:,.0f} Mbit/s per core**")
    print(f"  of {tr.get('packet_bytes', 1200)}-byte packets (loss {tr.get('loss_pct', 0):.2f} % at the measured load).")
print()
print("## This machine's limits")
print("```")
print(open(f"{work}/sysctl.txt").read().strip())
print("```")
print()
print("## Extrapolated: what a node needs")
print()
print("Computed from the slopes measured above — **not measured** at these sizes. The kernel's figure assumes")
print("the per-socket-end slope holds; TCP buffers of busy sockets, conntrack and the network stack's other")
print("tables come on top.")
print()
full = hs.get("full") or {}
res = hs.get("resumed") or {}
rows = []
for n in (100_000, 1_000_000, 3_000_000):
    user = (fu[0] + fu[1] * n) if fu else 0
    kern = fk[1] * n if fk else 0
    tu = 0
    if fu and t and t.get("server_rss_per_socket_bytes"):
        # What TLS adds per socket at the size measured, over the ws:// line there.
        extra = t["server_rss_per_socket_bytes"] - (fu[0] + fu[1] * tls_conns) / tls_conns
        tu = fu[0] + (fu[1] + extra) * n
    refill = lambda s: f"{n / s['per_cpu_s']:.0f} core-s" if s.get("per_cpu_s") else "—"
    rows.append((n, user, tu, kern, refill(full), refill(res)))
print("| sockets | duet RSS, ws:// | duet RSS, wss:// | kernel (socket slabs) | descriptors | TLS refill after a restart: full / resumed handshakes |")
print("|---|---|---|---|---|---|")
for n, user, tu, kern, rf, rr in rows:
    g = lambda b: f"{b/2**30:.1f} GiB" if b else "—"
    print(f"| {n:,} | {g(user)} | {g(tu)} | {g(kern)} | {n + 1000:,} | {rf} / {rr} |")
print()
print("To hold them, raise: the process's open files (`LimitNOFILE` in the unit, `ulimit -n`) above the")
print("sockets plus a thousand; `fs.nr_open` (the per-process ceiling, 1,048,576 by default) above that for")
print("more than a million; `fs.file-max` above the whole host's; `net.core.somaxconn` and")
print("`net.ipv4.tcp_max_syn_backlog` to a few tens of thousands so that a reconnect storm waits in the kernel")
print("rather than being refused; `net.netfilter.nf_conntrack_max` above the sockets when conntrack is loaded")
print("(or leave the port out of conntrack); and on a proxy or load generator the local port range, one port")
print("per connection per destination address.")
PY
echo "report written to $OUT" >&2
