#!/usr/bin/env python3
"""How duet's SDKs spread a node's clients when it restarts.

Every client loses its socket at the same moment (a kill -9 closes them all) and
follows its SDK's backoff: attempt n waits a uniform delay in [cap/2, cap] with
cap = min(max, min * 2**n) ("equal jitter"; web/sdk/socket.js and client/client.go's
backoff). An attempt before the node is back fails at once (connection refused) and
the next one waits again. The first attempt after the node is back succeeds. This
prints, for several restart times, when the clients arrive after the restart and
the busiest 100 ms as a share of them — the burst the node must absorb — and the
same for "full jitter" ([0, cap]) for comparison. duet.js also has an urgent mode, for
a call whose media needs the server back (relayed through its TURN, or its path
broken): up to 25 attempts at min/5 + [0, 0.3 min] (100-250 ms), then the backoff.

    scripts/reconnect-spread.py            # 100,000 clients per case
"""
import random
import sys

SDKS = {
    "duet.js": (0.5, 15.0),        # minReconnectDelay, maxReconnectDelay (s)
    "Go client": (0.25, 10.0),     # ReconnectMin, ReconnectMax
}


def arrivals(n, lo, hi, restart, mode, rng):
    out = []
    for _ in range(n):
        t, k, urgent = 0.0, 0, 25 if mode == "urgent" else 0
        while True:
            cap = min(hi, lo * 2 ** k)
            if urgent > 0:
                urgent -= 1
                t += lo / 5 + rng.uniform(0, lo * 3 / 10)
            elif mode == "full":
                t += rng.uniform(0, cap)
            else:
                t += rng.uniform(cap / 2, cap)
            k += 1
            if t >= restart:
                out.append(t - restart)
                break
    return sorted(out)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rng = random.Random(26)
    print(f"{n:,} clients per case; times in seconds after the node is back\n")
    print("| SDK | jitter | node back after | first | median | last | busiest 100 ms |")
    print("|---|---|---|---|---|---|---|")
    for name, (lo, hi) in SDKS.items():
        modes = ["equal", "full"] + (["urgent"] if name == "duet.js" else [])
        for mode in modes:
            for restart in (0.1, 0.5, 1.0, 3.0):
                a = arrivals(n, lo, hi, restart, mode, rng)
                buckets = {}
                for x in a:
                    buckets[int(x * 10)] = buckets.get(int(x * 10), 0) + 1
                peak = max(buckets.values()) / n
                label = {"equal": "equal (as shipped)", "full": "full (for comparison)", "urgent": "urgent (as shipped)"}[mode]
                print(f"| {name} | {label} | {restart:.1f} s | {a[0]:.2f} | "
                      f"{a[len(a) // 2]:.2f} | {a[-1]:.2f} | {peak:.0%} |")


if __name__ == "__main__":
    main()
