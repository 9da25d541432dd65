#!/usr/bin/env bash
# Dependency policy (deny.toml): licenses, banned crates (one TLS stack and one crypto
# provider: no aws-lc, no OpenSSL) and sources (the default registry only).
# `cargo deny check advisories` needs the RustSec database, which CI cannot fetch here.
# cargo-deny is installed from the crate registry when missing (a few minutes, once).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo deny --version >/dev/null 2>&1; then
  echo "check-deny: installing cargo-deny"
  cargo install cargo-deny --locked --no-default-features --quiet \
    || { echo "check-deny: cannot install cargo-deny" >&2; exit 1; }
fi
cargo deny --log-level error check bans licenses sources
echo "check-deny: bans, licenses and sources ok"
