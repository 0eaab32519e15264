#!/usr/bin/env bash
# The data-gap benchmark for Go peers (issue #12): two `duet peer`
# processes pipe numbered streams both ways (a line every 10 ms) through a
# real duet server while each fault is repeated RUNS times: a cut
# signaling socket, a drained and restarted server, a killed (SIGKILL) and
# restarted server, and (as root, in network namespaces it makes and
# removes) the loss of the uplink that carries both signaling and data,
# with a second uplink up. It prints, per fault, the longest silence either
# side saw from the fault until 100 more lines had arrived (p50, p90,
# max), and fails only if a line was lost or reordered or a fault cost a
# PeerConnection. The browser's media-gap benchmark is scripts/bench-media-gaps.sh.
#
#   scripts/bench-gap-go.sh [OUT]      # OUT: also write the table there
#
# Settings: RUNS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
out="${1:-}"
if [ -n "$out" ]; then out="$(realpath -m "$out")"; fi
DUET_GAP_RUNS="$RUNS" DUET_GAP_OUT="$out" \
  go test -count=1 -timeout 60m -run '^TestGapDistribution$' -v ./cmd/duet |
  grep -v '^=== ' | grep -E 'gap|fault|runs|#|ms|PASS|FAIL|ok' || true
test "${PIPESTATUS[0]}" = 0
