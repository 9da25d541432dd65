#!/usr/bin/env bash
# Sign a fixture the way its provider does, with the dev secrets, and POST it to hookgate.
#
# Usage: scripts/send-fixture.sh KIND FIXTURE [URL]
#
#   KIND     salesforce_om | github | stripe | slack | shopify | standard_webhooks | generic_hmac
#   FIXTURE  the body file, sent byte for byte (e.g. fixtures/github/push.json). Extra request
#            headers come from the sibling FIXTURE-without-extension.headers.json if it exists
#            (a JSON object {"Header-Name": "value", ...}).
#   URL      a full URL (used as is), or a base such as https://127.0.0.1:8443 to which the KIND's
#            default path is appended. Default base: https://127.0.0.1:8443.
#
# Default paths: salesforce_om /salesforce/outbound, github /hooks/github, stripe /hooks/stripe,
# slack /hooks/slack, shopify /hooks/shopify, standard_webhooks /hooks/standard,
# generic_hmac /hooks/generic.
#
# Environment (all optional):
#   GITHUB_WEBHOOK_SECRET    default dev-github-secret
#   STRIPE_WEBHOOK_SECRET    default whsec_devStripeSecret0123456789 (whole string is the HMAC key)
#   SLACK_SIGNING_SECRET     default dev-slack-signing-secret
#   SHOPIFY_WEBHOOK_SECRET   default dev-shopify-secret
#   STANDARD_WEBHOOK_SECRET  default whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLXNlY3JldC1rZXk=
#                            (key = base64-decoded part after whsec_)
#   GENERIC_WEBHOOK_SECRET   default dev-generic-secret
#   SIGN_TIMESTAMP           unix seconds to sign with (default: now)
#   WEBHOOK_ID               standard_webhooks id (default: webhook-id from the headers file,
#                            else a fresh msg_<random>)
#   HOOKGATE_CA              CA bundle for curl (default: certs/dev-ca.pem in the repository;
#                            if that file is missing, curl runs with -k)
#   DRY_RUN=1                print the URL and the headers instead of sending
#   CURL_EXTRA               extra curl arguments, split on spaces (e.g. "-v" or "--http1.1")
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 2 && $# -le 3 ]] || usage

KIND=$1
FIXTURE=$2
URL_ARG=${3:-https://127.0.0.1:8443}
[[ -f $FIXTURE ]] || { echo "send-fixture: no such file: $FIXTURE" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

: "${GITHUB_WEBHOOK_SECRET:=dev-github-secret}"
: "${STRIPE_WEBHOOK_SECRET:=whsec_devStripeSecret0123456789}"
: "${SLACK_SIGNING_SECRET:=dev-slack-signing-secret}"
: "${SHOPIFY_WEBHOOK_SECRET:=dev-shopify-secret}"
: "${STANDARD_WEBHOOK_SECRET:=whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLXNlY3JldC1rZXk=}"
: "${GENERIC_WEBHOOK_SECRET:=dev-generic-secret}"
TS=${SIGN_TIMESTAMP:-$(date +%s)}

case $KIND in
  salesforce_om|salesforce) KIND=salesforce_om; PATH_DEFAULT=/salesforce/outbound ;;
  github)                   PATH_DEFAULT=/hooks/github ;;
  stripe)                   PATH_DEFAULT=/hooks/stripe ;;
  slack)                    PATH_DEFAULT=/hooks/slack ;;
  shopify)                  PATH_DEFAULT=/hooks/shopify ;;
  standard_webhooks|standard) KIND=standard_webhooks; PATH_DEFAULT=/hooks/standard ;;
  generic_hmac|generic)     KIND=generic_hmac; PATH_DEFAULT=/hooks/generic ;;
  *) echo "send-fixture: unknown KIND: $KIND" >&2; usage ;;
esac

# A bare scheme://host[:port][/] gets the default path; anything with a path is used as is.
if [[ $URL_ARG =~ ^https?://[^/]+/?$ ]]; then
  URL=${URL_ARG%/}$PATH_DEFAULT
else
  URL=$URL_ARG
fi

# Sibling headers file: foo.json -> foo.headers.json, foo.xml -> foo.headers.json.
HDR_FILE=${FIXTURE%.*}.headers.json

# ---- HMAC-SHA256 helpers: read the message on stdin, never from a shell variable, so the
# ---- fixture's exact bytes (trailing newlines, invalid UTF-8, NULs) are what gets signed.
hmac_key()    { openssl dgst -sha256 -hmac "$1" -binary; }                  # key = string
hmac_hexkey() { openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" -binary; } # key = hex bytes
to_hex()      { od -An -v -tx1 | tr -d ' \n'; }
to_b64()      { openssl base64 -A; }

# Read the headers file (if any) with python3's json module; print "Name: value" lines, skipping
# the headers this script computes itself ($@, case-insensitive) and adding Content-Type
# ($DEFAULT_CT) when the file has none.
read_headers() {
  python3 - "$HDR_FILE" "$DEFAULT_CT" "$@" <<'PY'
import json, os, sys
path, default_ct, skip = sys.argv[1], sys.argv[2], {s.lower() for s in sys.argv[3:]}
skip |= {"content-length", "host", "transfer-encoding", "connection"}
hdrs = {}
if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
        hdrs = json.load(f)
    if not isinstance(hdrs, dict):
        sys.exit("send-fixture: %s is not a JSON object" % path)
out = []
for name, value in hdrs.items():
    value = str(value).lower() if isinstance(value, bool) else str(value)
    if any(c in name + value for c in "\r\n") or not name or ":" in name:
        sys.exit("send-fixture: bad header in %s: %r" % (path, name))
    if name.lower() not in skip:
        out.append("%s: %s" % (name, value))
if default_ct and not any(n.lower() == "content-type" for n in hdrs):
    out.insert(0, "Content-Type: " + default_ct)
print("\n".join(out))
PY
}

# Value of one header from the headers file (case-insensitive name), empty if absent.
header_value() {
  [[ -f $HDR_FILE ]] || return 0
  python3 - "$HDR_FILE" "$1" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    hdrs = json.load(f)
print(next((str(v) for k, v in hdrs.items() if k.lower() == sys.argv[2].lower()), ""))
PY
}

SIG_HEADERS=()
DEFAULT_CT=application/json
case $KIND in
  salesforce_om)
    # Outbound Messages carry no signature.
    DEFAULT_CT="text/xml; charset=utf-8"
    SIG_HEADERS=('SOAPAction: ""')
    SKIP=(SOAPAction)
    ;;
  github)
    sig=$(hmac_key "$GITHUB_WEBHOOK_SECRET" <"$FIXTURE" | to_hex)
    SIG_HEADERS=("X-Hub-Signature-256: sha256=$sig")
    SKIP=(X-Hub-Signature-256 X-Hub-Signature)
    ;;
  stripe)
    sig=$({ printf '%s.' "$TS"; cat -- "$FIXTURE"; } | hmac_key "$STRIPE_WEBHOOK_SECRET" | to_hex)
    SIG_HEADERS=("Stripe-Signature: t=$TS,v1=$sig")
    SKIP=(Stripe-Signature)
    ;;
  slack)
    sig=$({ printf 'v0:%s:' "$TS"; cat -- "$FIXTURE"; } | hmac_key "$SLACK_SIGNING_SECRET" | to_hex)
    SIG_HEADERS=("X-Slack-Request-Timestamp: $TS" "X-Slack-Signature: v0=$sig")
    SKIP=(X-Slack-Request-Timestamp X-Slack-Signature)
    ;;
  shopify)
    sig=$(hmac_key "$SHOPIFY_WEBHOOK_SECRET" <"$FIXTURE" | to_b64)
    SIG_HEADERS=("X-Shopify-Hmac-Sha256: $sig")
    SKIP=(X-Shopify-Hmac-Sha256)
    ;;
  standard_webhooks)
    msg_id=${WEBHOOK_ID:-$(header_value webhook-id)}
    [[ -n $msg_id ]] || msg_id=msg_$(openssl rand -hex 12)
    key_b64=${STANDARD_WEBHOOK_SECRET#whsec_}
    key_hex=$(printf '%s' "$key_b64" | openssl base64 -d -A | to_hex)
    [[ -n $key_hex ]] || { echo "send-fixture: STANDARD_WEBHOOK_SECRET is not whsec_<base64>" >&2; exit 2; }
    sig=$({ printf '%s.%s.' "$msg_id" "$TS"; cat -- "$FIXTURE"; } | hmac_hexkey "$key_hex" | to_b64)
    SIG_HEADERS=("webhook-id: $msg_id" "webhook-timestamp: $TS" "webhook-signature: v1,$sig")
    SKIP=(webhook-id webhook-timestamp webhook-signature)
    ;;
  generic_hmac)
    sig=$({ printf '%s.' "$TS"; cat -- "$FIXTURE"; } | hmac_key "$GENERIC_WEBHOOK_SECRET" | to_hex)
    SIG_HEADERS=("X-Timestamp: $TS" "X-Signature: sha256=$sig")
    SKIP=(X-Timestamp X-Signature)
    ;;
esac

HEADERS=()
hdr_out=$(read_headers "${SKIP[@]}")
if [[ -n $hdr_out ]]; then
  mapfile -t HEADERS <<<"$hdr_out"
fi
HEADERS+=("${SIG_HEADERS[@]}")

if [[ ${DRY_RUN:-0} == 1 ]]; then
  printf 'POST %s\n' "$URL"
  printf '%s\n' "${HEADERS[@]}"
  exit 0
fi

CA=${HOOKGATE_CA:-$ROOT/certs/dev-ca.pem}
if [[ -f $CA ]]; then
  TLS_ARGS=(--cacert "$CA")
else
  TLS_ARGS=(-k)
fi

CURL_ARGS=(-sS -w '\n%{http_code}\n' -X POST "${TLS_ARGS[@]}" --data-binary "@$FIXTURE" -H 'Expect:')
for h in "${HEADERS[@]}"; do
  CURL_ARGS+=(-H "$h")
done
if [[ -n ${CURL_EXTRA:-} ]]; then
  # shellcheck disable=SC2206
  CURL_ARGS+=($CURL_EXTRA)
fi

exec curl "${CURL_ARGS[@]}" "$URL"
