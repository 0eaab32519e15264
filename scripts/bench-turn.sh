#!/usr/bin/env bash
# duet's embedded TURN server against coturn, side by side in one run, driven
# by coturn's own load generator (turnutils_uclient, Debian package coturn):
# client-to-client relays (-y) of 1,200-byte packets, at loads from light up to
# where coturn itself starts to lose. For each load and server: the server's CPU
# time (from /proc), CPU per relayed packet, and the loss uclient reports. Writes
# the "turn" section of docs/benchmarks.md.
#
#   scripts/bench-turn.sh                 # about 6 minutes
#   QUICK=1 scripts/bench-turn.sh         # two light loads, printed, docs untouched
#   LOADS="40:1 80:1" ROUNDS=3 scripts/bench-turn.sh
#
# LOADS are sessions:interval_ms pairs; each session sends MESSAGES packets.
# ROUNDS repeats every load (servers alternating); the report shows each one's
# median by CPU per packet. Both servers run pinned to CPU 0, uclient to CPU 1,
# under nice. Both get the same shared secret; duet runs with its per-allocation
# bandwidth cap and quotas off (coturn has none by default, and uclient uses one
# username from one address for every session). RESULTS=DIR keeps the JSON
# (scripts/capacity.sh reads it); SERVERS="coturn duet" limits the servers.
set -euo pipefail
cd "$(dirname "$0")/.."

LOADS=${LOADS:-20:2 40:2 40:1 60:1 80:1 100:1}
MESSAGES=${MESSAGES:-3000}
ROUNDS=${ROUNDS:-1}
SERVERS=${SERVERS:-coturn duet}
OUT=${OUT:-docs/benchmarks.md}
if [ -n "${QUICK:-}" ]; then
  LOADS="10:2 20:1" MESSAGES=1000
  OUT=/dev/stdout
fi
command -v turnutils_uclient >/dev/null || { echo "turnutils_uclient is needed: apt-get install coturn"; exit 1; }

work="$(mktemp -d)"
results="${RESULTS:-$work/results}"
mkdir -p "$results"
srvpid=""
cleanup() {
  [ -n "$srvpid" ] && kill "$srvpid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

go build -o "$work/duet" ./cmd/duet
srv=(nice) gen=(nice)
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then srv=(nice taskset -c 0) gen=(nice taskset -c 1); fi
secret="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
free_port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

start() {
  PORT="$(free_port)"
  case "$1" in
    coturn)
      "${srv[@]}" turnserver -n --listening-ip 127.0.0.1 --listening-port "$PORT" --relay-ip 127.0.0.1 \
        --min-port 40000 --max-port 49999 --use-auth-secret --static-auth-secret "$secret" --realm duet \
        --no-tls --no-dtls --allow-loopback-peers --no-cli --simple-log --log-file "$work/coturn.log" \
        --userdb "$work/turndb" --pidfile "$work/coturn.pid" >/dev/null 2>&1 & ;;
    duet)
      "${srv[@]}" "$work/duet" --listen 127.0.0.1:0 --log-format json --log-level warn --turn-enabled \
        --turn-listen "127.0.0.1:$PORT" --turn-secret "$secret" --turn-public-ip 127.0.0.1 \
        --turn-relay-address 127.0.0.1 --turn-relay-port-min 50000 --turn-relay-port-max 59999 \
        --turn-allow-private-peers --turn-bandwidth 0 --turn-user-quota 0 --turn-ip-quota 0 \
        --turn-token-quota 0 --turn-max-allocations 0 >"$work/duet.log" 2>&1 & ;;
  esac
  srvpid=$!
  # Up when its UDP port is bound (on a loaded machine that can take a while).
  for _ in $(seq 100); do
    [ -n "$(ss -Hlun "sport = :$PORT")" ] && break
    sleep 0.1
  done
  sleep 0.2 # coturn binds before its relay threads are ready
}
stop() { kill "$srvpid" 2>/dev/null || true; wait "$srvpid" 2>/dev/null || true; srvpid=""; }

# run SERVER SESSIONS INTERVAL ROUND
run() {
  local server="$1" m="$2" z="$3" r="$4"
  start "$server"
  local t0; t0="$(cpu_ticks "$srvpid")"
  "${gen[@]}" turnutils_uclient -y -c -m "$m" -n "$MESSAGES" -l 1200 -z "$z" -W "$secret" -u bench \
    -p "$PORT" 127.0.0.1 >"$work/uc.txt" 2>&1 || true
  local t1; t1="$(cpu_ticks "$srvpid")"
  stop
  python3 - "$work/uc.txt" "$server" "$m" "$z" "$MESSAGES" "$((t1 - t0))" "$r" >"$results/turn-$server-$m-$z-r$r.json" <<'PY'
import json, re, sys
path, server, m, z, n, ticks, r = sys.argv[1:8]
t = open(path).read()
sent = recv = 0
for a, b in re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", t):
    sent, recv = int(a), int(b)
lost = re.findall(r"Total lost packets (\d+) \(([\d.]+)%\)", t)
rtt = re.findall(r"Average round trip delay ([\d.]+) ms", t)
cpu = int(ticks) / 100
d = {"server": server, "sessions": int(m), "interval_ms": int(z), "messages": int(n), "packet_bytes": 1200,
     "round": int(r), "sent": sent, "received": recv, "cpu_s": cpu,
     "loss_pct": float(lost[-1][1]) if lost else None, "rtt_ms": float(rtt[-1]) if rtt else None,
     "cpu_per_packet_us": cpu / sent * 1e6 if sent else None,
     "cpu_per_delivered_us": cpu / recv * 1e6 if recv else None}
print(json.dumps(d))
PY
  echo "$server m=$m z=$z round $r: $(cat "$results/turn-$server-$m-$z-r$r.json")" >&2
}

for load in $LOADS; do
  m="${load%%:*}" z="${load##*:}"
  for r in $(seq "$ROUNDS"); do
    for s in $SERVERS; do run "$s" "$m" "$z" "$r"; done
  done
done

[ "$OUT" = /dev/null ] && exit 0
{
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) ($(nproc) cores); kernel $(uname -r)"
  echo "coturn $(turnserver --version 2>/dev/null | head -1 || dpkg-query -W -f='${Version}' coturn); Go $(go version | cut -d' ' -f3); duet $(git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "net.core.rmem_max $(sysctl -n net.core.rmem_max), wmem_max $(sysctl -n net.core.wmem_max)"
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$work/machine.txt"
python3 - "$results" "$LOADS" "$ROUNDS" "$MESSAGES" "$work/machine.txt" >"$work/section.md" <<'PY'
import json, os, sys
res, loads, rounds, n, machine = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def med(server, m, z):
    runs = []
    for r in range(1, rounds + 1):
        try:
            d = json.load(open(f"{res}/turn-{server}-{m}-{z}-r{r}.json"))
            if d.get("cpu_per_packet_us"):
                runs.append(d)
        except (OSError, ValueError):
            pass
    if not runs:
        return None
    runs.sort(key=lambda d: d.get("cpu_per_delivered_us") or 1e9)
    x = runs[len(runs) // 2]
    x["all"] = runs
    return x
print("<!-- turn:begin (scripts/bench-turn.sh writes this section) -->")
print("### TURN relay: duet's embedded server and coturn")
print()
print(f"Generated by `scripts/bench-turn.sh` (ROUNDS={rounds}, {n} packets per session): coturn's `turnutils_uclient -y`")
print("(client-to-client relays through the server, 1,200-byte packets at the given interval per session) against")
print("each server on one core (CPU 0, `nice`), uclient on the other. Packets are those the clients sent; each is")
print("relayed from its sender's allocation to its receiver's. CPU is the server's user and system time over the run,")
print(f"from /proc{'; the median round of ' + str(rounds) + ' by CPU per packet' if rounds > 1 else ''}. duet ran with its bandwidth cap and quotas off.")
print("```")
print(open(machine).read().strip())
print("```")
print()
print("CPU per packet is given per packet sent and per packet delivered: a server that drops a packet at its socket")
print("spends nothing on it, so when the losses differ the second is the fair one.")
print()
print("| load | packets sent | coturn: CPU-s / loss | duet: CPU-s / loss | µs per packet sent: coturn / duet | µs per packet delivered: coturn / duet | duet / coturn (delivered) |")
print("|---|---|---|---|---|---|---|")
for l in loads:
    m, z = l.split(":")
    c, d = med("coturn", m, z), med("duet", m, z)
    pk = (c or d or {}).get("sent", 0)
    cell = lambda x: f"{x['cpu_s']:.2f} / {x['loss_pct']:.2f} %" if x and x.get("loss_pct") is not None else "—"
    us = lambda x, k: f"{x[k]:.1f}" if x and x.get(k) else "—"
    ratio = f"{d['cpu_per_delivered_us'] / c['cpu_per_delivered_us']:.2f}×" if c and d and c.get("cpu_per_delivered_us") and d.get("cpu_per_delivered_us") else "—"
    print(f"| {m} sessions, {z} ms | {pk:,} | {cell(c)} | {cell(d)} | {us(c, 'cpu_per_packet_us')} / {us(d, 'cpu_per_packet_us')} | {us(c, 'cpu_per_delivered_us')} / {us(d, 'cpu_per_delivered_us')} | {ratio} |")
print()
print("<!-- turn:end -->")
PY
if [ "$OUT" = /dev/stdout ] || [ ! -f "$OUT" ]; then
  cat "$work/section.md" >"$OUT"
elif grep -q '<!-- turn:begin' "$OUT"; then
  python3 - "$OUT" "$work/section.md" <<'PY'
import re, sys
out, sec = sys.argv[1], open(sys.argv[2]).read()
s = open(out).read()
s = re.sub(r'<!-- turn:begin.*?<!-- turn:end -->\n?', lambda m: sec, s, flags=re.S)
open(out, 'w').write(s)
PY
else
  { echo; cat "$work/section.md"; } >>"$OUT"
fi
echo "wrote $OUT" >&2
