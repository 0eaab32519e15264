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
#   BASE=main ROUNDS=3 scripts/bench-turn.sh   # before/after: duet built from
#                                             # git revision BASE runs too
#
# LOADS are sessions:interval_ms pairs; each session sends MESSAGES packets.
# ROUNDS repeats every load (servers alternating); the report shows each one's
# median by CPU per packet. Both servers run pinned to CPU 0, uclient to CPU 1,
# under nice. Both get the same shared secret; duet runs with its per-allocation
# bandwidth cap and quotas off (coturn has none by default, and uclient uses one
# username from one address for every session). RESULTS=DIR keeps the JSON
# (scripts/capacity.sh reads it); SERVERS="coturn duet" limits the servers.
# Loss is split by where the kernel dropped the datagrams: each server's own
# UDP sockets are sampled every second (`ss -uamp`, the drop counter of
# each socket, its highest value kept; the JSON splits the listening socket's
# from the relay sockets'), so a loss not counted there happened at the
# generator's sockets or was never sent.
set -euo pipefail
cd "$(dirname "$0")/.."

LOADS=${LOADS:-20:2 40:2 40:1 60:1 80:1 100:1}
MESSAGES=${MESSAGES:-3000}
ROUNDS=${ROUNDS:-1}
SERVERS=${SERVERS:-coturn duet}
BASE=${BASE:-}
if [ -n "$BASE" ] && [[ " $SERVERS " != *" duet-base "* ]]; then SERVERS="${SERVERS/coturn/coturn duet-base}"; fi
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
base_desc=""
if [ -n "$BASE" ]; then
  base_desc="$(git rev-parse --short "$BASE")"
  mkdir -p "$work/base"
  git archive "$BASE" | tar -x -C "$work/base"
  (cd "$work/base" && go build -o "$work/duet-base" ./cmd/duet)
fi
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
    duet|duet-base)
      "${srv[@]}" "$work/$1" --listen 127.0.0.1:0 --log-format json --log-level warn --turn-enabled \
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

# drops PID PORT OUT: every second until PID ends, the kernel's drop counter
# of each of PID's UDP sockets (by inode), keeping each one's highest; writes
# {"listen": drops at the listening socket (PORT), "relay": at the relay
# sockets, "first_s": seconds from the start to the first drop, "sockets": how
# many were seen, "listen_rb": the listening socket's receive buffer} to OUT
# (sockets closed between samples lose what they dropped since the last
# one). It runs on the generator's core, so that it never takes the server's.
drops() {
  "${gen[@]}" python3 - "$1" "$2" "$3" <<'PY' &
import json, os, re, subprocess, sys, time
pid, port, out = sys.argv[1], sys.argv[2], sys.argv[3]
seen, listen, first, t0, listen_rb = {}, set(), None, time.monotonic(), 0
while os.path.exists(f"/proc/{pid}"):
    try:
        t = subprocess.run(["ss", "-H", "-uamep"], capture_output=True, text=True, timeout=5).stdout
    except Exception:
        t = ""
    for block in re.split(r"\n(?=\S)", t):
        if f"pid={pid}," not in block:
            continue
        ino, d = re.search(r"ino:(\d+)", block), re.search(r"skmem:\([^)]*,d(\d+)\)", block)
        if ino and d:
            seen[ino.group(1)] = max(seen.get(ino.group(1), 0), int(d.group(1)))
            local = block.split()[3] if len(block.split()) > 3 else ""
            if local.endswith(":" + port):
                listen.add(ino.group(1))
                rb = re.search(r"skmem:\([^)]*,rb(\d+)", block)
                if rb:
                    listen_rb = max(listen_rb, int(rb.group(1)))
    if first is None and any(seen.values()):
        first = round(time.monotonic() - t0, 2)
    l = sum(v for k, v in seen.items() if k in listen)
    json.dump({"listen": l, "relay": sum(seen.values()) - l, "first_s": first, "sockets": len(seen), "listen_rb": listen_rb}, open(out, "w"))
    time.sleep(1)
PY
  dropper=$!
}

# run SERVER SESSIONS INTERVAL ROUND
run() {
  local server="$1" m="$2" z="$3" r="$4"
  start "$server"
  local t0; t0="$(cpu_ticks "$srvpid")"
  echo '{"listen": 0, "relay": 0}' >"$work/drops"
  drops "$srvpid" "$PORT" "$work/drops"
  "${gen[@]}" turnutils_uclient -y -c -m "$m" -n "$MESSAGES" -l 1200 -z "$z" -W "$secret" -u bench \
    -p "$PORT" 127.0.0.1 >"$work/uc.txt" 2>&1 || true
  local t1; t1="$(cpu_ticks "$srvpid")"
  stop
  wait "$dropper" 2>/dev/null || true
  python3 - "$work/uc.txt" "$server" "$m" "$z" "$MESSAGES" "$((t1 - t0))" "$r" "$(cat "$work/drops")" "$(cut -d' ' -f1 /proc/loadavg)" >"$results/turn-$server-$m-$z-r$r.json" <<'PY'
import json, re, sys
path, server, m, z, n, ticks, r, drops, load = sys.argv[1:10]
drops = json.loads(drops)
t = open(path).read()
sent = recv = 0
for a, b in re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", t):
    sent, recv = int(a), int(b)
lost = re.findall(r"Total lost packets (\d+) \(([\d.]+)%\)", t)
rtt = re.findall(r"Average round trip delay ([\d.]+) ms", t)
tx = re.findall(r"Total transmit time is (\d+)", t)
cpu = int(ticks) / 100
d = {"server": server, "sessions": int(m), "interval_ms": int(z), "messages": int(n), "packet_bytes": 1200,
     "round": int(r), "sent": sent, "received": recv, "cpu_s": cpu,
     "loss_pct": float(lost[-1][1]) if lost else None, "rtt_ms": float(rtt[-1]) if rtt else None,
     "transmit_s": int(tx[-1]) if tx else None, "sent_per_s": sent / int(tx[-1]) if tx and int(tx[-1]) else None,
     "cpu_per_packet_us": cpu / sent * 1e6 if sent else None,
     "cpu_per_delivered_us": cpu / recv * 1e6 if recv else None,
     "server_socket_drops": drops["listen"] + drops["relay"], "listen_socket_drops": drops["listen"],
     "relay_socket_drops": drops["relay"], "first_drop_s": drops.get("first_s"), "server_sockets": drops.get("sockets"),
     "listen_socket_rcvbuf": drops.get("listen_rb"),
     "load": float(load)}
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
python3 - "$results" "$LOADS" "$ROUNDS" "$MESSAGES" "$work/machine.txt" "$SERVERS" "$base_desc" >"$work/section.md" <<'PY'
import json, sys
res, loads, rounds, n, machine = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
servers, base = sys.argv[6].split(), sys.argv[7]
name = {"coturn": "coturn", "duet": "duet", "duet-base": f"duet before ({base})"}
if base:
    name["duet"] = "duet after"
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
    x = dict(runs[len(runs) // 2])
    x["all"] = runs
    return x
print("<!-- turn:begin (scripts/bench-turn.sh writes this section) -->")
print("### TURN relay: duet's embedded server and coturn")
print()
print(f"Generated by `{'BASE=' + base + ' ' if base else ''}ROUNDS={rounds} scripts/bench-turn.sh` ({n} packets per session): coturn's `turnutils_uclient -y`")
print("(client-to-client relays through the server, 1,200-byte packets at the given interval per session) against")
print("each server on one core (CPU 0, `nice`), uclient on the other. Packets are those the clients sent; each is")
print("relayed from its sender's allocation to its receiver's. CPU is the server's user and system time over the run,")
print(f"from /proc{'; the median round of ' + str(rounds) + ' by CPU per delivered packet, with every round in brackets' if rounds > 1 else ''}. duet ran with its bandwidth cap and quotas off.")
if base:
    print(f"\"duet before\" is duet built from {base}, run in the same rounds as the others.")
print("```")
print(open(machine).read().strip())
print("```")
print()
print("CPU per packet is per packet delivered: a server that drops a packet at its socket spends nothing on it.")
print("Loss is what uclient reports; \"at the server\" is the part the kernel dropped at the server's own sockets")
print("(the rest was lost at the generator's sockets, which share CPU 1 with everything else on the machine).")
print()
cols = [s for s in servers]
hdr = "| load | packets sent | " + " | ".join(f"{name.get(s, s)}: µs per packet delivered" for s in cols) + " | " + " | ".join(f"{name.get(s, s)}: loss (at the server)" for s in cols)
ratios = [s for s in cols if s != "coturn"] if "coturn" in cols else []
hdr += "".join(f" | {name.get(s, s)} / coturn" for s in ratios) + " |"
print(hdr)
print("|" + "---|" * (2 + 2 * len(cols) + len(ratios)))
for l in loads:
    m, z = l.split(":")
    meds = {s: med(s, m, z) for s in cols}
    pk = next((x["sent"] for x in meds.values() if x), 0)
    def us(x):
        if not x:
            return "—"
        every = ", ".join(f"{d['cpu_per_delivered_us']:.1f}" for d in sorted(x["all"], key=lambda d: d["round"]))
        return f"{x['cpu_per_delivered_us']:.1f}" + (f" ({every})" if rounds > 1 else "")
    def loss(x):
        if not x or x.get("loss_pct") is None:
            return "—"
        every = ", ".join(f"{d['loss_pct']:.2f} ({d.get('server_socket_drops', 0) / d['sent'] * 100:.2f})" for d in sorted(x["all"], key=lambda d: d["round"]))
        return every + " %"
    row = f"| {m} sessions, {z} ms | {pk:,} | " + " | ".join(us(meds[s]) for s in cols) + " | " + " | ".join(loss(meds[s]) for s in cols)
    c = meds.get("coturn")
    for s in ratios:
        d = meds[s]
        row += f" | {d['cpu_per_delivered_us'] / c['cpu_per_delivered_us']:.2f}×" if c and d else " | —"
    print(row + " |")
print()
if rounds > 1:
    print("Rounds in which uclient saw any loss, by load: " + "; ".join(
        f"{l.split(':')[0]} sessions, {l.split(':')[1]} ms: " + ", ".join(
            f"{name.get(srv, srv)} {sum(1 for d in (med(srv, *l.split(':')) or {}).get('all', []) if d.get('loss_pct'))} of {len((med(srv, *l.split(':')) or {}).get('all', []))}"
            for srv in cols) for l in loads) + ".")
    print()
loads_seen = []
for l in loads:
    m, z = l.split(":")
    for srv in cols:
        x = med(srv, m, z)
        loads_seen += [d["load"] for d in (x["all"] if x else []) if d.get("load") is not None]
if loads_seen:
    print(f"The machine's load average (1 min) at the end of each run: {min(loads_seen):.2f} to {max(loads_seen):.2f}.")
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
