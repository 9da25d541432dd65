#!/usr/bin/env bash
# TLS scan of a local gateway with testssl.sh (Debian package testssl.sh).
#
# Starts hookgate (release) on config/hookgate.example.toml with a dev CA certificate from
# scripts/gen-dev-cert.sh on 127.0.0.1:8443, runs testssl.sh against it (loopback only), stops
# the gateway by its PID, and prints the findings of severity LOW or higher (none expected) and
# the protocol/cipher summary. Exit 1 if any LOW-or-higher finding is reported.
#
# Usage: scripts/tls-scan.sh            Output: target/tls-scan/{testssl.log,testssl.json}
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v testssl.sh >/dev/null 2>&1 && ! command -v testssl >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq testssl.sh >/dev/null
fi
TESTSSL=$(command -v testssl.sh || command -v testssl)
out=target/tls-scan
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

scripts/gen-dev-cert.sh "$work/certs" >/dev/null
sed -e "s#^self_signed = true.*#cert = \"$work/certs/server.pem\"\nkey = \"$work/certs/server.key\"#" \
    config/hookgate.example.toml > "$work/hookgate.toml"
printf '\n[spool]\npath = "%s/spool.redb"\n\n[dedupe]\npath = "%s/dedupe.redb"\n' "$work" "$work" >> "$work/hookgate.toml"
cargo build --release --quiet --bin hookgate
set -a; . config/dev.env; set +a
./target/release/hookgate serve --config "$work/hookgate.toml" >"$out/gateway.log" 2>&1 &
gw=$!
trap 'kill "$gw" 2>/dev/null || true; wait "$gw" 2>/dev/null || true; rm -rf "$work"' EXIT
up=0
for _ in $(seq 1 50); do
  if (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null; then up=1; break; fi
  sleep 0.2
done
if [ $up = 0 ]; then echo "the gateway did not start:"; cat "$out/gateway.log"; exit 1; fi

rm -f "$out/testssl.json"
"$TESTSSL" --quiet --color 0 --warnings off --ip 127.0.0.1 --severity LOW \
  --jsonfile "$out/testssl.json" https://localhost:8443/ >"$out/testssl.log" 2>&1 || true

echo "== protocols and ciphers =="
grep -E '^ (SSLv2|SSLv3|TLS 1 |TLS 1.1|TLS 1.2|TLS 1.3)' "$out/testssl.log" || true
grep -E 'Cipher order|Negotiated cipher|Forward Secrecy' "$out/testssl.log" | head -5 || true
echo "== findings of severity LOW or higher =="
python3 - "$out/testssl.json" <<'PY'
import json, sys
findings = json.load(open(sys.argv[1]))
log = open(sys.argv[1].replace(".json", ".log")).read()
if "TLS 1.2" not in log:
    print("the scan did not run (no protocol results)")
    sys.exit(1)
bad = [f for f in findings if f.get("severity") in ("LOW", "MEDIUM", "HIGH", "CRITICAL")]
# Properties of the throwaway dev certificate and of "localhost", not of the server:
# untrusted dev CA, no CRL/OCSP URI in the dev cert, no CAA record for localhost.
ignored = {"cert_revocation", "cert_chain_of_trust", "cert_trust", "cert_caIssuers", "cert_ocspURL", "cert_crlDistributionPoints", "OCSP_stapling", "cert_mustStapleExtension", "cert_crlRevoked", "cert_ocspRevoked", "DNS_CAArecord"}
real = [f for f in bad if f.get("id") not in ignored]
for f in bad:
    tag = "ignored (dev CA)" if f.get("id") in ignored else f["severity"]
    print(f"{tag:>18}  {f['id']}: {f.get('finding', '')}")
print(f"{len(real)} finding(s) of severity LOW or higher (excluding dev-CA trust)")
sys.exit(1 if real else 0)
PY
