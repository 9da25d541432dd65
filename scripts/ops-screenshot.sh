#!/usr/bin/env bash
# A picture of the operations page (the admin listener's `/`, docs/operations.md "Operations
# page") while load runs. Everything runs on 127.0.0.1, is bounded in time, and every process
# the script starts is ended by its PID (never by name):
#   1. checks that chromium is installed (Debian package `chromium`: `apt-get install -y
#      chromium`); the script installs nothing itself;
#   2. builds the release binary (or uses BIN);
#   3. starts a PRIVATE RabbitMQ node (scripts/lib/private-rabbit.sh: own node name, ports and
#      data dir; the shared broker on 5672 is never touched);
#   4. starts hookgate on a copy of config/hookgate.example.toml with the dev secrets of
#      config/dev.env, its listeners on free loopback ports, the private node's URL, the spool
#      and replay cache in the temp dir, and github's secrets in two slots with a `not_after`
#      each (slot 1 within 14 days: highlighted on the page);
#   5. sends LOAD_SECS s of signed requests with scripts/send-fixture.sh from two loops that
#      stop by themselves: github (fresh delivery ids, some signed with the slot-1 secret,
#      some with a wrong one: 401), stripe (fresh event ids, some with a stale timestamp:
#      401), generic_hmac and an Outbound Message (repeats: answered from the replay cache);
#   6. reads the page once (the reading rates are measured from), waits RATE_SECS, and takes
#      the screenshot with `chromium --headless` while the load still runs;
#   7. stops the loops, hookgate and the node by PID and removes the temp dir.
#
# Usage: scripts/ops-screenshot.sh [OUT]            (default docs/ops-page.png)
# Env:   BIN (a hookgate binary; default: build the release one), LOAD_SECS (20), RATE_SECS (5),
#        RABBITMQ_BIN_DIR (/usr/lib/rabbitmq/bin), KEEP_WORK=1 (keep the temp dir)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${1:-docs/ops-page.png}
LOAD_SECS=${LOAD_SECS:-20}
RATE_SECS=${RATE_SECS:-5}
RABBITMQ_BIN_DIR=${RABBITMQ_BIN_DIR:-/usr/lib/rabbitmq/bin}

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
die() { log "FAILED: $*"; exit 1; }

CHROMIUM=$(command -v chromium || true)
[[ -n $CHROMIUM ]] || die "no chromium: install the Debian package (apt-get install -y chromium)"
[[ -x $RABBITMQ_BIN_DIR/rabbitmq-server ]] || die "no $RABBITMQ_BIN_DIR/rabbitmq-server (set RABBITMQ_BIN_DIR)"

WORK=$(mktemp -d /tmp/hookgate-opspage.XXXXXX)
NODE_DIR=$WORK/rabbit
mkdir -p "$NODE_DIR"
LOAD_PIDS=() GATEWAY_PID= NODE_SCRIPT_PID=

# shellcheck source=lib/private-rabbit.sh
source "$ROOT/scripts/lib/private-rabbit.sh"
# shellcheck source=lib/gateway.sh
source "$ROOT/scripts/lib/gateway.sh"

cleanup() {
  local rc=$? pid
  set +e
  for pid in "${LOAD_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null && wait_gone "$pid" 5
  done
  if [[ -n $GATEWAY_PID ]] && kill -0 "$GATEWAY_PID" 2>/dev/null; then
    kill -TERM "$GATEWAY_PID"; wait_gone "$GATEWAY_PID" 15 || kill -KILL "$GATEWAY_PID"
  fi
  stop_node 20
  remove_work $rc
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. build --------------------------------------------------------------------------------
if [[ -z ${BIN:-} ]]; then
  log "building (release)"
  cargo build --release --locked --bin hookgate
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/hookgate
fi
[[ -x $BIN ]] || die "no binary at $BIN"

read -r AMQP_PORT DIST_PORT LISTEN_PORT ADMIN_PORT < <(free_ports 4)

# --- 2. private RabbitMQ node ----------------------------------------------------------------
NODE=hgopspage-$$@localhost
node_files "private ops-screenshot node"
log "starting private RabbitMQ node $NODE on 127.0.0.1:$AMQP_PORT"
start_node
await_node 90

# --- 3. hookgate on the example config -------------------------------------------------------
set -a
# shellcheck source=../config/dev.env
. config/dev.env
set +a
export GITHUB_WEBHOOK_SECRET_NEXT=dev-github-secret-next
SOON=$(date -u -d '+6 days' +%Y-%m-%dT%H:%M:%SZ)
LATER=$(date -u -d '+90 days' +%Y-%m-%dT%H:%M:%SZ)
CONFIG=$WORK/hookgate.toml
sed -e "s|^listen = \"127.0.0.1:8443\"|listen = \"127.0.0.1:$LISTEN_PORT\"|" \
  -e "s|^listen = \"127.0.0.1:9090\".*|listen = \"127.0.0.1:$ADMIN_PORT\"|" \
  -e "s|^url = \"amqp://.*|url = \"amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f\"|" \
  -e "s|^secrets = \[{ env = \"GITHUB_WEBHOOK_SECRET\" }\]|secrets = [{ env = \"GITHUB_WEBHOOK_SECRET_NEXT\", not_after = \"$LATER\" }, { env = \"GITHUB_WEBHOOK_SECRET\", not_after = \"$SOON\" }]|" \
  config/hookgate.example.toml >"$CONFIG"
cat >>"$CONFIG" <<TOML

[spool]
path = "$WORK/spool.redb"

[dedupe]
path = "$WORK/replay.redb"
TOML
grep -q "127.0.0.1:$ADMIN_PORT" "$CONFIG" && grep -q GITHUB_WEBHOOK_SECRET_NEXT "$CONFIG" \
  || die "config/hookgate.example.toml no longer has the lines this script rewrites"
export HOOKGATE_LOG=warn
start_gateway
wait_broker_connected "to the private node"
log "hookgate up: https://127.0.0.1:$LISTEN_PORT, admin http://127.0.0.1:$ADMIN_PORT"

# --- 4. load that stops by itself ------------------------------------------------------------
BASE=https://127.0.0.1:$LISTEN_PORT
export HOOKGATE_CA=$WORK/no-ca.pem   # absent: send-fixture.sh uses -k for the self-signed cert
send() { scripts/send-fixture.sh "$@" "$BASE" >/dev/null 2>&1 || true; }

# github_load DIR: push.json with a fresh X-GitHub-Delivery per request.
github_load() {
  local dir=$1 end=$((SECONDS + LOAD_SECS)) i=0
  mkdir -p "$dir"
  cp fixtures/github/push.json "$dir/push.json"
  while ((SECONDS < end)); do
    i=$((i + 1))
    sed "s/\"X-GitHub-Delivery\": \"[^\"]*\"/\"X-GitHub-Delivery\": \"opspage-$$-$i\"/" \
      fixtures/github/push.headers.json >"$dir/push.headers.json"
    if ((i % 9 == 0)); then
      GITHUB_WEBHOOK_SECRET=not-the-secret send github "$dir/push.json"
    elif ((i % 3 == 0)); then
      send github "$dir/push.json"   # the slot-1 secret (config/dev.env)
    else
      GITHUB_WEBHOOK_SECRET=$GITHUB_WEBHOOK_SECRET_NEXT send github "$dir/push.json"
    fi
  done
}

# mixed_load DIR: stripe (fresh event ids, some stale), generic_hmac (fresh request ids), an
# Outbound Message (the same one again and again: answered from the replay cache).
mixed_load() {
  local dir=$1 end=$((SECONDS + LOAD_SECS)) i=0
  mkdir -p "$dir"
  cp fixtures/generic/order.json "$dir/order.json"
  while ((SECONDS < end)); do
    i=$((i + 1))
    sed "0,/\"id\": \"evt_[^\"]*\"/s//\"id\": \"evt_opspage$$x$i\"/" \
      fixtures/stripe/invoice.paid.json >"$dir/invoice.paid.json"
    cp fixtures/stripe/invoice.paid.headers.json "$dir/"
    if ((i % 5 == 0)); then
      SIGN_TIMESTAMP=$(($(date +%s) - 3600)) send stripe "$dir/invoice.paid.json"
    else
      send stripe "$dir/invoice.paid.json"
    fi
    sed "s/\"X-Request-Id\": \"[^\"]*\"/\"X-Request-Id\": \"opspage-$$-$i\"/" \
      fixtures/generic/order.headers.json >"$dir/order.headers.json"
    send generic "$dir/order.json"
    if ((i % 4 == 0)); then send salesforce fixtures/salesforce/om_1.xml; fi
  done
}

github_load "$WORK/gh" &
LOAD_PIDS+=($!)
mixed_load "$WORK/mixed" &
LOAD_PIDS+=($!)
log "load running for $LOAD_SECS s"

# --- 5. the screenshot -----------------------------------------------------------------------
sleep $((LOAD_SECS / 3))
curl -sf --max-time 5 "http://127.0.0.1:$ADMIN_PORT/" >/dev/null || die "admin / did not answer"
sleep "$RATE_SECS"
mkdir -p "$(dirname "$OUT")"
log "screenshot of http://127.0.0.1:$ADMIN_PORT/ -> $OUT"
timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$WORK/chromium" --screenshot="$ROOT/$OUT" --window-size=1280,1400 \
  "http://127.0.0.1:$ADMIN_PORT/" >"$WORK/chromium.log" 2>&1 \
  || { tail -5 "$WORK/chromium.log"; die "chromium failed"; }
[[ -s $ROOT/$OUT ]] || die "no screenshot written"

for pid in "${LOAD_PIDS[@]}"; do wait_gone "$pid" $((LOAD_SECS + 30)) || true; done
LOAD_PIDS=()
log "done: $OUT"
