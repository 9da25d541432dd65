#!/usr/bin/env bash
# hookgate's work per request as a multiple of the bare gateway prototype's, counted
# (docs/performance.md, "Session 15"): runs scripts/instructions.sh on hookgate, then on
# examples/proto_gateway (PROTO=1; hyper + rustls + lapin publishing hookgate's message, no
# checks), and prints both counts and their ratios, without SHA-256 (valgrind's CPU has no SHA
# extensions): for the request-handling thread (tokio worker: HTTP, TLS, the phases,
# publishing) and for all threads. Deterministic to ~0.5 %, unlike a timed ratio on a 2-core
# host (10-20 % between minutes): the measure a count-based target of issue #20 would use.
#
#   cargo build --release --locked --bin hookgate --examples
#   scripts/instructions-ratio.sh                      # target/release/hookgate
#   GATEWAY_BIN=/tmp/other scripts/instructions-ratio.sh
#
# About 2 minutes; needs what scripts/instructions.sh needs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROTO_BIN=$ROOT/target/release/examples/proto_gateway
[[ -x $PROTO_BIN ]] || { echo "no $PROTO_BIN (cargo build --release --locked --examples)" >&2; exit 1; }
out_h=$(mktemp) out_p=$(mktemp)
trap 'rm -f "$out_h" "$out_p"' EXIT
"$ROOT/scripts/instructions.sh" >"$out_h"
PROTO=1 GATEWAY_BIN="$PROTO_BIN" "$ROOT/scripts/instructions.sh" >"$out_p"
cat "$out_h" "$out_p"
python3 - "$out_h" "$out_p" <<'PY'
import re, sys
def counts(path):
    worker = total = None
    for line in open(path):
        n = re.search(r"without_sha256=([\d,]+)", line)
        if not n:
            continue
        v = int(n.group(1).replace(",", ""))
        if line.startswith("total"):
            total = v
        elif "hyper::" in line and worker is None:
            worker = v
    if worker is None or total is None:
        sys.exit(f"no counts in {path}")
    return worker, total
(hw, ht), (pw, pt) = counts(sys.argv[1]), counts(sys.argv[2])
print(f"worker: hookgate {hw:,} / prototype {pw:,} = {hw / pw:.2f}x")
print(f"all threads: hookgate {ht:,} / prototype {pt:,} = {ht / pt:.2f}x")
PY
