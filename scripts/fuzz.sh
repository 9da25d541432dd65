#!/usr/bin/env bash
# Runs each cargo-fuzz target for SECONDS (default 60) with the corpus under fuzz/corpus/.
# Needs the nightly toolchain (cargo-fuzz builds with -Zsanitizer) and cargo-fuzz
# (`cargo install cargo-fuzz --locked`). Exits non-zero if any target finds a crash;
# crashing inputs land in fuzz/artifacts/<target>/.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(om_parse signature_headers config)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for t in "${targets[@]}"; do
  echo "== $t (${secs}s)"
  # Grow a working corpus (gitignored) from the seeds in fuzz/corpus/.
  mkdir -p "fuzz/corpus-work/$t"
  cargo +nightly fuzz run "$t" "fuzz/corpus-work/$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 \
    | grep -E '^(#[0-9]+\s+DONE|Done|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)' || true
  if ls "fuzz/artifacts/$t"/crash-* >/dev/null 2>&1; then
    echo "crash found in $t: fuzz/artifacts/$t/"; exit 1
  fi
done
echo "no crash"
