#!/usr/bin/env bash
# Regenerates tests/vectors/<kind>.json with each provider's own SDK signer
# (or verifier, to cross-check) where one exists. Shared code: scripts/vectors/lib/common.py. Not run by CI: the vectors
# are committed, so CI needs no SDK; `cargo test every_vector_file_passes`
# checks them against hookgate's verifiers.
#
#   bash scripts/gen-vectors.sh            # every kind
#   bash scripts/gen-vectors.sh discord    # one kind
#
# Python generators (scripts/vectors/<kind>.py) run in a venv made under
# ${HOOKGATE_VECTORS_CACHE:-~/.cache/hookgate-vectors} with the pinned
# packages of scripts/vectors/requirements.txt; Node generators
# (scripts/vectors/<kind>.mjs) with the packages of
# scripts/vectors/package.json installed there (a copy of the generator runs in that folder;
# HOOKGATE_ROOT tells it where the repository is). Each writes its own file.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${HOOKGATE_VECTORS_CACHE:-$HOME/.cache/hookgate-vectors}
mkdir -p "$cache"
if [ ! -x "$cache/venv/bin/python" ]; then
  python3 -m venv "$cache/venv"
fi
"$cache/venv/bin/pip" install -q -r scripts/vectors/requirements.txt
if ls scripts/vectors/*.mjs >/dev/null 2>&1; then
  cp scripts/vectors/package.json "$cache/package.json"
  (cd "$cache" && npm install --silent --no-audit --no-fund >/dev/null)
fi
only=${1:-}
for gen in scripts/vectors/*.py scripts/vectors/*.mjs; do
  [ -e "$gen" ] || continue
  name=$(basename "$gen"); kind=${name%.*}
  [ "$kind" = common ] && continue
  [ -n "$only" ] && [ "$kind" != "$only" ] && continue
  case "$gen" in
    # -P: the script's folder is not put on sys.path, so stripe.py can import stripe.
    *.py) PYTHONPATH=scripts/vectors/lib "$cache/venv/bin/python" -P "$gen" ;;
    # ES modules resolve packages from their own folder: run a copy beside node_modules.
    *.mjs) cp "$gen" "$cache/$name" && HOOKGATE_ROOT=$PWD node "$cache/$name" ;;
  esac
  echo "wrote tests/vectors/$kind.json"
done
