#!/usr/bin/env bash
# Sign a fixture the way its provider does (`hookgate sign`) and send it to hookgate.
#
# Usage: scripts/send-fixture.sh ROUTE FIXTURE [BASE]
#
#   ROUTE    a route name of the config (the example config names each route by its kind:
#            salesforce, github, stripe, slack, shopify, standard, generic, ...).
#   FIXTURE  the body file, sent byte for byte (e.g. fixtures/github/push.json). Extra request
#            headers come from the sibling FIXTURE-without-extension.headers.json if it exists
#            (a JSON object {"Header-Name": "value", ...}); the headers `hookgate sign` makes
#            (signature, timestamp, delivery id) replace same-named ones from that file.
#   BASE     scheme://host:port the route's path is appended to (routes with `public_url`
#            are sent to that URL). Default: https://127.0.0.1:8443.
#
# Environment (all optional):
#   HOOKGATE_CONFIG  config file (default config/hookgate.example.toml; its secrets come from
#                    the environment: config/dev.env is read when the variables are unset)
#   HOOKGATE_BIN     the hookgate binary (default target/release/hookgate, else target/debug/
#                    hookgate, else `cargo run -q --`)
#   EVENT            --event for kinds that send the event name in a header
#   WEBHOOK_ID       --id: the delivery id (default: derived from the time and the body)
#   PRIVATE_KEY      --private-key for discord and sendgrid routes (PKCS#8 PEM)
#   SIGN_TIMESTAMP   Unix seconds to sign with (default: now)
#   HOOKGATE_CA      CA bundle for curl (default certs/dev-ca.pem; if missing, curl runs with -k)
#   DRY_RUN=1        print the request instead of sending it
#   CURL_EXTRA       extra curl arguments, split on spaces (e.g. "-v" or "--http1.1")
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 2 && $# -le 3 ]] || usage

ROUTE=$1
FIXTURE=$2
BASE=${3:-https://127.0.0.1:8443}
[[ -f $FIXTURE ]] || { echo "send-fixture: no such file: $FIXTURE" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONFIG=${HOOKGATE_CONFIG:-$ROOT/config/hookgate.example.toml}
if [[ -z ${HOOKGATE_CONFIG:-} ]]; then
  # The example config's secrets: the documented dev values, unless already set.
  while IFS='=' read -r name value; do
    [[ $name =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
    [[ -n ${!name:-} ]] || export "$name=$value"
  done <"$ROOT/config/dev.env"
fi

if [[ -n ${HOOKGATE_BIN:-} ]]; then
  HG=("$HOOKGATE_BIN")
elif [[ -x $ROOT/target/release/hookgate ]]; then
  HG=("$ROOT/target/release/hookgate")
elif [[ -x $ROOT/target/debug/hookgate ]]; then
  HG=("$ROOT/target/debug/hookgate")
else
  HG=(cargo run -q --manifest-path "$ROOT/Cargo.toml" --)
fi

ARGS=(sign --config "$CONFIG" --route "$ROUTE" --body "$FIXTURE" --base "${BASE%/}")
[[ -n ${EVENT:-} ]] && ARGS+=(--event "$EVENT")
[[ -n ${WEBHOOK_ID:-} ]] && ARGS+=(--id "$WEBHOOK_ID")
[[ -n ${PRIVATE_KEY:-} ]] && ARGS+=(--private-key "$PRIVATE_KEY")
[[ -n ${SIGN_TIMESTAMP:-} ]] && ARGS+=(--time "$SIGN_TIMESTAMP")
BODY_OUT=$(mktemp)
trap 'rm -f "$BODY_OUT"' EXIT
ARGS+=(--body-out "$BODY_OUT")

SIGNED=$("${HG[@]}" "${ARGS[@]}")
# Line 1: METHOD URL; then one "Name: value" line per header.
read -r METHOD URL <<<"$(head -n1 <<<"$SIGNED")"
mapfile -t SIGNED_HEADERS < <(tail -n +2 <<<"$SIGNED")
BODY=$FIXTURE
[[ -s $BODY_OUT ]] && BODY=$BODY_OUT

# The fixture's own headers, minus those the signer made (case-insensitive), read with
# python3's json module.
HDR_FILE=${FIXTURE%.*}.headers.json
mapfile -t HEADERS < <(python3 - "$HDR_FILE" "${SIGNED_HEADERS[@]}" <<'PY'
import json, os, sys
path, signed = sys.argv[1], sys.argv[2:]
made = {h.split(":", 1)[0].strip().lower() for h in signed}
made |= {"content-length", "host", "transfer-encoding", "connection"}
hdrs = {}
if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
        hdrs = json.load(f)
    if not isinstance(hdrs, dict):
        sys.exit("send-fixture: %s is not a JSON object" % path)
for name, value in hdrs.items():
    value = str(value).lower() if isinstance(value, bool) else str(value)
    if any(c in name + value for c in "\r\n") or not name or ":" in name:
        sys.exit("send-fixture: bad header in %s: %r" % (path, name))
    if name.lower() not in made:
        print("%s: %s" % (name, value))
for h in signed:
    print(h)
PY
)

if [[ ${DRY_RUN:-0} == 1 ]]; then
  printf '%s %s\n' "$METHOD" "$URL"
  printf '%s\n' "${HEADERS[@]}"
  exit 0
fi

CA=${HOOKGATE_CA:-$ROOT/certs/dev-ca.pem}
if [[ -f $CA ]]; then
  TLS_ARGS=(--cacert "$CA")
else
  TLS_ARGS=(-k)
fi

CURL_ARGS=(-sS -w '\n%{http_code}\n' -X "$METHOD" "${TLS_ARGS[@]}" --data-binary "@$BODY" -H 'Expect:')
for h in "${HEADERS[@]}"; do
  CURL_ARGS+=(-H "$h")
done
if [[ -n ${CURL_EXTRA:-} ]]; then
  # shellcheck disable=SC2206
  CURL_ARGS+=($CURL_EXTRA)
fi

curl "${CURL_ARGS[@]}" "$URL"
