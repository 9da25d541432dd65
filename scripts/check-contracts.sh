#!/usr/bin/env bash
# Validates the contract documents with their own parsers (docs/asyncapi.yaml,
# docs/openapi.yaml; README "The message contract"):
#   - AsyncAPI 3: @asyncapi/parser (the parser of the AsyncAPI CLI; the CLI
#     itself is far heavier to install) through scripts/validate-asyncapi.js:
#     spec schema, every $ref (the JSON Schemas under docs/asyncapi/
#     included), core rules;
#   - OpenAPI 3.1: openapi-spec-validator.
# The tools are installed on first use into a cache directory
# (HOOKGATE_TOOLS_DIR, default ${XDG_CACHE_HOME:-$HOME/.cache}/hookgate-contracts),
# never system-wide. Needs node/npm and python3 (with venv).
set -euo pipefail
cd "$(dirname "$0")/.."

tools="${HOOKGATE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hookgate-contracts}"
# Pinned majors: a new major of a parser is a deliberate change.
asyncapi_parser="@asyncapi/parser@^3.6"
openapi_validator="openapi-spec-validator>=0.7,<0.10"

fail() { echo "check-contracts: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 is required ($2)"; }

need node "to run the AsyncAPI parser"
need npm "to install the AsyncAPI parser"
need python3 "to run openapi-spec-validator"

# AsyncAPI parser.
node_dir="$tools/node"
if [ ! -f "$node_dir/node_modules/@asyncapi/parser/package.json" ]; then
  echo "check-contracts: installing $asyncapi_parser into $node_dir"
  mkdir -p "$node_dir"
  [ -f "$node_dir/package.json" ] || echo '{"name":"hookgate-contract-tools","private":true}' >"$node_dir/package.json"
  npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "$asyncapi_parser" ||
    fail "could not install $asyncapi_parser (npm registry reachable?)"
fi

# OpenAPI validator.
venv="$tools/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import openapi_spec_validator' 2>/dev/null; then
  echo "check-contracts: installing $openapi_validator into $venv"
  python3 -m venv "$venv" || fail "python3 -m venv failed (install python3-venv)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$openapi_validator" ||
    fail "could not install $openapi_validator (package index reachable?)"
fi

status=0
echo "check-contracts: AsyncAPI docs/asyncapi.yaml"
if ! NODE_PATH="$node_dir/node_modules" node scripts/validate-asyncapi.js docs/asyncapi.yaml; then
  echo "check-contracts: docs/asyncapi.yaml is not a valid AsyncAPI document (errors above)" >&2
  status=1
fi
echo "check-contracts: OpenAPI docs/openapi.yaml"
# The validator prints the whole resolved document with some errors: keep
# the start of each line.
if ! out=$("$venv/bin/python" -m openapi_spec_validator --validation-errors all docs/openapi.yaml 2>&1); then
  printf '%s\n' "$out" | cut -c1-400 >&2
  echo "check-contracts: docs/openapi.yaml is not a valid OpenAPI document (errors above)" >&2
  status=1
else
  printf '%s\n' "$out"
fi
# The message schemas are plain JSON files (tests/it/contracts.rs reads them).
for f in docs/asyncapi/*.json; do
  python3 -m json.tool "$f" >/dev/null || { echo "check-contracts: $f is not JSON" >&2; status=1; }
done
[ "$status" -eq 0 ] && echo "check-contracts: both documents are valid"
exit "$status"
