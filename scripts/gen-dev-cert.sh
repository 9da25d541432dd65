#!/usr/bin/env bash
# Make a development CA and a TLS server certificate for hookgate, unless they already exist.
#
#   certs/dev-ca.pem, certs/dev-ca.key   self-signed dev CA (ECDSA P-256, 10 years)
#   certs/server.pem                     chain: leaf (SAN DNS:localhost, IP:127.0.0.1, 825 days)
#                                        followed by the dev CA
#   certs/server.key                     leaf private key (PKCS#8 PEM)
#
# Usage: scripts/gen-dev-cert.sh [DIR]   (DIR defaults to certs/ in the repository)
# Existing files are never overwritten; delete them to regenerate. Trust certs/dev-ca.pem in
# clients (scripts/send-fixture.sh does so automatically). Development only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:-$ROOT/certs}
mkdir -p "$DIR"
cd "$DIR"

# Keep keys and certificates out of git.
[[ -f .gitignore ]] || printf '*\n' >.gitignore

umask 077
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [[ -f dev-ca.pem && -f dev-ca.key ]]; then
  echo "gen-dev-cert: keeping existing $DIR/dev-ca.pem"
elif [[ -f dev-ca.pem || -f dev-ca.key ]]; then
  echo "gen-dev-cert: only one of dev-ca.pem / dev-ca.key exists in $DIR; remove it and rerun" >&2
  exit 1
else
  cat >"$TMP/ca.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
O = hookgate development
CN = hookgate dev CA
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out dev-ca.key
  openssl req -new -x509 -config "$TMP/ca.cnf" -key dev-ca.key -sha256 -days 3650 \
    -set_serial "0x$(openssl rand -hex 16)" -out dev-ca.pem
  rm -f server.pem   # a leaf from an older CA would no longer chain
  echo "gen-dev-cert: wrote $DIR/dev-ca.pem and $DIR/dev-ca.key"
fi

if [[ -f server.pem && -f server.key ]]; then
  echo "gen-dev-cert: keeping existing $DIR/server.pem"
else
  cat >"$TMP/leaf.ext" <<'EXT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXT
  [[ -f server.key ]] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key
  openssl req -new -key server.key -subj "/O=hookgate development/CN=localhost" -out "$TMP/leaf.csr"
  openssl x509 -req -in "$TMP/leaf.csr" -CA dev-ca.pem -CAkey dev-ca.key \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$TMP/leaf.ext" \
    -out "$TMP/leaf.pem"
  cat "$TMP/leaf.pem" dev-ca.pem >server.pem
  echo "gen-dev-cert: wrote $DIR/server.pem (leaf + CA) and $DIR/server.key"
fi

chmod 600 dev-ca.key server.key
chmod 644 dev-ca.pem server.pem
openssl verify -CAfile dev-ca.pem server.pem >/dev/null
