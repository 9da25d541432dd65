#!/usr/bin/env bash
# Worker soak (issue #15; docs/workers.md, "Measured").
#
# Checks "every good record written exactly once, only the bad records dead-lettered (each
# with its reason), nothing lost" for N Notifications through the gateway, RabbitMQ and one
# `hookgate worker`, to two simulated orgs (crates/sfsim) with a fault plan:
#   org A: the token endpoint down (503) for TOKEN_OUTAGE s from TOKEN_AT s, its sessions
#          expired when it begins (a cached token would hide the outage);
#   org B: one maintenance window (read-only mode) of MAINT_FOR s from MAINT_AT s;
#   both:  UNKNOWN_RATIO (5 %) of the sObject Collections calls answered 500 UNKNOWN_EXCEPTION;
#   1 % of the records carry a badly typed value (half an AnnualRevenue of "n/a", refused by
#          the worker's typed mapping; half a Customer_Since__c that is no date, refused by the
#          org with JSON_PARSER_ERROR and isolated by the worker).
# Everything runs on 127.0.0.1 and stops by itself; every process the script starts is ended by
# its PID (trap), never by name:
#   1. builds the release binaries (hookgate, sfsim) into CARGO_TARGET_DIR (default target/);
#      makes a venv with pika in the temp dir;
#   2. starts one sfsim per org (fault plan offsets count from its start), the gateway (TLS with
#      a throwaway dev CA, one salesforce_om route per org with its org_ids, a unique exchange
#      and work queue on the shared RabbitMQ) and one worker (per route a salesforce_upsert of
#      Account by Account_Key__c with the typed field AnnualRevenue, naming its org when there
#      are two; embedded idempotency store in the temp dir);
#   3. sends the Outbound Messages (PER_POST Notifications per POST, unique Notification Ids,
#      spread over LOAD_S s, POSTs alternating between the orgs; each re-sent until answered
#      200, as Salesforce does);
#   4. waits (DRAIN_TIMEOUT at most) until every good record is written and every bad one
#      dead-lettered with the work and retry queues empty;
#   5. stops the worker (SIGTERM; its /metrics read first) and the simulators (SIGTERM: each
#      writes its summary: calls by kind, every record with its write count), reads the DLQ;
#   6. prints the summary and the API calls per 1,000 Notifications; exits 1 on any violation
#      (a good record missing, written twice or in the other org, a bad record written or not
#      dead-lettered or without its reason, a good record dead-lettered); deletes the run's
#      queues and exchanges.
#
# Modes: ORGS=2 (default) configures the worker with two `[[salesforce.orgs]]` (organization_id
#        routes each Notification to its org: needs the multi-org worker). ORGS=1 runs today's
#        single `[salesforce]` table: one org with both fault plans (token outage and the
#        maintenance window at their times, the 5 % ratio), every Notification from it.
# Usage: scripts/worker-soak.sh                 (N=10000; a few minutes after the build)
#        ORGS=1 N=2000 scripts/worker-soak.sh   (short check, single org)
# Env:   N (10000), ORGS (2), SEED (random; printed), PER_POST (50), LOAD_S (90 s the POSTs
#        are spread over), CONCURRENCY (4), TOKEN_AT/TOKEN_OUTAGE (20/30 s), MAINT_AT/MAINT_FOR
#        (60/20 s), UNKNOWN_RATIO (5%), DRAIN_TIMEOUT (600 s), AMQP_URL
#        (amqp://guest:guest@127.0.0.1:5672/%2f), KEEP_WORK=1 (keep the temp dir; a failed run
#        keeps it too), CARGO_TARGET_DIR, HOOKGATE_BIN (a hookgate binary to use instead of
#        building one: another branch's worker, for one).
# Needs: cargo, a RabbitMQ on AMQP_URL, openssl, curl, python3 with venv + pip (pika).
set -euo pipefail

# One compound command: bash reads the whole file before it runs any of it.
{
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

N=${N:-10000}
ORGS=${ORGS:-2}
SEED=${SEED:-$(((RANDOM << 15) | RANDOM))}
PER_POST=${PER_POST:-50}
LOAD_S=${LOAD_S:-90}
CONCURRENCY=${CONCURRENCY:-4}
TOKEN_AT=${TOKEN_AT:-20}
TOKEN_OUTAGE=${TOKEN_OUTAGE:-30}
MAINT_AT=${MAINT_AT:-60}
MAINT_FOR=${MAINT_FOR:-20}
UNKNOWN_RATIO=${UNKNOWN_RATIO:-5%}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-600}
AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ORG_A=00D000000000001EAA
ORG_B=00D000000000002EAA
RETRY_DELAYS=(2 5 10)
[[ $ORGS == 1 || $ORGS == 2 ]] || { echo "ORGS must be 1 or 2" >&2; exit 2; }

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
die() { log "FAILED: $*"; exit 1; }

WORK=$(mktemp -d /tmp/hookgate-worker-soak.XXXXXX)
RUN=hgws-$$-$SEED
EXCHANGE=$RUN
QUEUE=$RUN.events
DLQ=$RUN.dead
SIM_PIDS=() GATEWAY_PID= WORKER_PID= LOADER_PID=
CLEAN_BROKER=0

# shellcheck source=lib/private-rabbit.sh
source "$ROOT/scripts/lib/private-rabbit.sh"   # wait_gone, free_ports, remove_work
# shellcheck source=lib/gateway.sh
source "$ROOT/scripts/lib/gateway.sh"          # start_gateway, metric

stop_pid() { # stop_pid PID SECONDS: SIGTERM, SIGKILL after SECONDS, reaped
  [[ -n $1 ]] && kill -0 "$1" 2>/dev/null || return 0
  kill -TERM "$1" 2>/dev/null
  wait_gone "$1" "$2" || { kill -KILL "$1" 2>/dev/null; wait_gone "$1" 5; }
  return 0
}

broker_cleanup() {
  local args=(--queue "$QUEUE" --queue "$DLQ" --queue "$EXCHANGE.unroutable" --exchange "$EXCHANGE"
    --exchange "$EXCHANGE.unroutable") d
  for d in "${RETRY_DELAYS[@]}"; do args+=(--queue "$QUEUE.retry.${d}s"); done
  timeout 60 "$WORK/venv/bin/python" scripts/worker-soak.py cleanup --amqp "$AMQP_URL" "${args[@]}" || true
}

cleanup() {
  local rc=$?
  set +e
  trap - INT TERM
  stop_pid "$LOADER_PID" 5
  stop_pid "$WORKER_PID" 20
  stop_pid "$GATEWAY_PID" 15
  local pid
  for pid in "${SIM_PIDS[@]}"; do stop_pid "$pid" 10; done
  [[ $CLEAN_BROKER == 1 ]] && broker_cleanup
  if [[ ${KEEP_WORK:-} != 1 && $rc -ne 0 ]]; then
    rm -rf "$WORK/venv" "$WORK"/*.redb "$WORK/certs"   # a failed run keeps its logs and records
  fi
  [[ ${KEEP_WORK:-} != 1 && $rc -eq 0 ]] && rm -rf "$WORK/venv"
  remove_work $rc
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T_START=$SECONDS
log "worker soak: ORGS=$ORGS N=$N SEED=$SEED PER_POST=$PER_POST LOAD_S=$LOAD_S" \
  "token outage ${TOKEN_AT}s+${TOKEN_OUTAGE}s, maintenance ${MAINT_AT}s+${MAINT_FOR}s," \
  "UNKNOWN_EXCEPTION $UNKNOWN_RATIO (repeat with SEED=$SEED)"
log "work dir $WORK; exchange $EXCHANGE, queue $QUEUE, dead-letter queue $DLQ"

# --- 1. build, venv -------------------------------------------------------------------------
if [[ -n ${HOOKGATE_BIN:-} ]]; then
  log "building (release): sfsim; hookgate is $HOOKGATE_BIN"
  cargo build --release --locked -p sfsim --bin sfsim
  BIN=$HOOKGATE_BIN
else
  log "building (release): hookgate, sfsim"
  cargo build --release --locked -p hookgate -p sfsim --bin hookgate --bin sfsim
  BIN=$TARGET/release/hookgate
fi
SFSIM=$TARGET/release/sfsim
[[ -x $BIN && -x $SFSIM ]] || die "no $BIN or $SFSIM (CARGO_TARGET_DIR?)"
log "venv with pika (queues, DLQ)"
python3 -m venv "$WORK/venv"
timeout 180 "$WORK/venv/bin/pip" install -q --disable-pip-version-check pika ||
  die "pip install pika failed (package index reachable?)"
CLEAN_BROKER=1

read -r LISTEN_PORT ADMIN_PORT WORKER_ADMIN_PORT < <(free_ports 3)

# --- 2. simulators, gateway, worker -----------------------------------------------------------
TOKEN_PLAN=(--expire-tokens "${TOKEN_AT}s" --token-outage "${TOKEN_AT}s+${TOKEN_OUTAGE}s")
MAINT_PLAN=(--maintenance "${MAINT_AT}s+${MAINT_FOR}s")
LIFETIME=$((LOAD_S + DRAIN_TIMEOUT + 600))
start_sim() { # start_sim NAME ORG_ID SEED PLAN...: sets SIM_PORT (the simulator picks a free one)
  local name=$1 org=$2 seed=$3 url=
  shift 3
  "$SFSIM" 0 --org-id "$org" --seed "$seed" --unknown-exception-ratio "$UNKNOWN_RATIO" \
    --summary "$WORK/sim-$name.json" --exit-after "${LIFETIME}s" "$@" </dev/null \
    >"$WORK/sim-$name.out" 2>"$WORK/sim-$name.log" &
  SIM_PIDS+=($!)
  local i
  for ((i = 0; i < 100; i++)); do
    url=$(head -1 "$WORK/sim-$name.out" 2>/dev/null || true)
    [[ $url == http://127.0.0.1:* ]] && break
    kill -0 "${SIM_PIDS[-1]}" 2>/dev/null || die "sfsim $name exited: $(head -3 "$WORK/sim-$name.log")"
    sleep 0.1
  done
  [[ $url == http://127.0.0.1:* ]] || die "sfsim $name printed no URL"
  SIM_PORT=${url##*:}
  log "sfsim $name (org $org) pid ${SIM_PIDS[-1]} on $url: $(grep 'fault plan' "$WORK/sim-$name.log" | sed 's/fault plan: //' | paste -sd';' -)"
}

export SF_CONSUMER_KEY=3MVG9-test-consumer-key
org_table() { # org_table NAME ORG_ID PORT: one [[salesforce.orgs]] entry (the multi-org contract)
  cat <<TOML
[[salesforce.orgs]]
name = "$1"
organization_id = "$2"
login_url = "http://127.0.0.1:$3"
instance_url = "http://127.0.0.1:$3"
api_version = "62.0"
auth = "jwt_bearer"
consumer_key = { env = "SF_CONSUMER_KEY" }
username = "integration@example.com"
private_key = { file = "$ROOT/fixtures/salesforce/jwt/test-rsa.key" }
TOML
}

if [[ $ORGS == 2 ]]; then
  SIM_T0=$SECONDS
  start_sim acme "$ORG_A" "$SEED" "${TOKEN_PLAN[@]}"
  SIM_A_PORT=$SIM_PORT
  start_sim globex "$ORG_B" "$((SEED + 1))" "${MAINT_PLAN[@]}"
  SIM_B_PORT=$SIM_PORT
  ROUTES=(acme "$ORG_A" globex "$ORG_B")
  LOAD_ORGS=$ORG_A=/salesforce/acme,$ORG_B=/salesforce/globex
  SUMMARIES=(--summary "$ORG_A=$WORK/sim-acme.json" --summary "$ORG_B=$WORK/sim-globex.json")
  SIM_URLS=(--sim "http://127.0.0.1:$SIM_A_PORT" --sim "http://127.0.0.1:$SIM_B_PORT")
  SALESFORCE="$(org_table acme "$ORG_A" "$SIM_A_PORT")
$(org_table globex "$ORG_B" "$SIM_B_PORT")"
else
  SIM_T0=$SECONDS
  start_sim acme "$ORG_A" "$SEED" "${TOKEN_PLAN[@]}" "${MAINT_PLAN[@]}"
  SIM_A_PORT=$SIM_PORT
  ROUTES=(acme "$ORG_A")
  LOAD_ORGS=$ORG_A=/salesforce/acme
  SUMMARIES=(--summary "$ORG_A=$WORK/sim-acme.json")
  SIM_URLS=(--sim "http://127.0.0.1:$SIM_A_PORT")
  SALESFORCE="[salesforce]
login_url = \"http://127.0.0.1:$SIM_A_PORT\"
instance_url = \"http://127.0.0.1:$SIM_A_PORT\"
api_version = \"62.0\"
auth = \"jwt_bearer\"
consumer_key = { env = \"SF_CONSUMER_KEY\" }
username = \"integration@example.com\"
private_key = { file = \"$ROOT/fixtures/salesforce/jwt/test-rsa.key\" }"
fi

scripts/gen-dev-cert.sh "$WORK/certs" >/dev/null
CONFIG=$WORK/hookgate.toml
cat >"$CONFIG" <<TOML
[server]
listen = "127.0.0.1:$LISTEN_PORT"
shutdown_grace_ms = 5000
[server.tls]
cert = "$WORK/certs/server.pem"
key = "$WORK/certs/server.key"
[admin]
listen = "127.0.0.1:$ADMIN_PORT"
[amqp]
url = "$AMQP_URL"
exchange = "$EXCHANGE"
[[amqp.queues]]
name = "$QUEUE"
bindings = ["acme.#", "globex.#"]
type = "quorum"
[dedupe]
enabled = true
path = "$WORK/dedupe.redb"
TOML
for ((i = 0; i < ${#ROUTES[@]}; i += 2)); do
  printf '[[routes]]\nname = "%s"\npath = "/salesforce/%s"\nkind = "salesforce_om"\norg_ids = ["%s"]\nmax_body_bytes = 4194304\n' \
    "${ROUTES[i]}" "${ROUTES[i]}" "${ROUTES[i + 1]}" >>"$CONFIG"
done
"$BIN" check-config --config "$CONFIG" >"$WORK/check-config.out" 2>&1 || die "check-config (gateway): $(cat "$WORK/check-config.out")"
log "starting the gateway on https://127.0.0.1:$LISTEN_PORT (admin $ADMIN_PORT)"
start_gateway
wait_broker_connected "to RabbitMQ"

WORKER_CONFIG=$WORK/worker.toml
cat >"$WORKER_CONFIG" <<TOML
[amqp]
url = "$AMQP_URL"
exchange = "$EXCHANGE"

[worker]
queues = ["$QUEUE"]
prefetch = 400
batch_size = 200
batch_linger_ms = 200
max_attempts = 10
retry_delays_s = [$(IFS=,; echo "${RETRY_DELAYS[*]}")]
dead_letter_queue = "$DLQ"
admin_listen = "127.0.0.1:$WORKER_ADMIN_PORT"
pause_retry_min_ms = 500
pause_retry_max_s = 4

[worker.idempotency]
store = "embedded"
path = "$WORK/idempotency.redb"

# Every Notification upserts its Account by Account_Key__c; AnnualRevenue is typed (a value
# that is no number is dead-lettered by the worker); Customer_Since__c is sent as the text it
# is (a value that is no date is refused by the org and isolated); Description says which
# Notification wrote the record. One gateway route per org (its own path and org_ids, as each
# org's Outbound Message action has its own endpoint URL): an upsert names its org.
$(for ((i = 0; i < ${#ROUTES[@]}; i += 2)); do
  printf '[[worker.actions]]\nmatch = "%s.Account"\nkind = "salesforce_upsert"\n' "${ROUTES[i]}"
  [[ $ORGS == 2 ]] && printf 'org = "%s"\n' "${ROUTES[i]}"
  printf 'sobject = "Account"\nexternal_id_field = "Account_Key__c"\n'
  printf 'fields = { Account_Key__c = "/sobject/Account_Key__c", Name = "/sobject/Name", AnnualRevenue = { pointer = "/sobject/AnnualRevenue", type = "number" }, Customer_Since__c = "/sobject/Customer_Since__c", Description = "/notification_id" }\n\n'
done)

$SALESFORCE
TOML
"$BIN" check-config --config "$WORKER_CONFIG" >"$WORK/check-config-worker.out" 2>&1 ||
  die "check-config (worker, ORGS=$ORGS; ORGS=2 needs the multi-org worker, ORGS=1 runs the single [salesforce] table): $(tail -5 "$WORK/check-config-worker.out")"
log "starting the worker (admin $WORKER_ADMIN_PORT)"
"$BIN" worker --config "$WORKER_CONFIG" --log-format json </dev/null >>"$WORK/worker.log" 2>&1 &
WORKER_PID=$!
for ((i = 0; i < 150; i++)); do
  curl -sf --max-time 1 "http://127.0.0.1:$WORKER_ADMIN_PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$WORKER_PID" 2>/dev/null || die "the worker exited: $(tail -5 "$WORK/worker.log")"
  sleep 0.1
done
log "worker pid $WORKER_PID; fault plan clock at $((SECONDS - SIM_T0)) s"

# --- 3. load ------------------------------------------------------------------------------------
log "load: $N Notifications, $PER_POST per POST, over $LOAD_S s ($CONCURRENCY connections)"
T_LOAD=$SECONDS
python3 scripts/worker-soak.py load --port "$LISTEN_PORT" --ca "$WORK/certs/dev-ca.pem" --seed "$SEED" \
  --n "$N" --per-post "$PER_POST" --orgs "$LOAD_ORGS" --duration "$LOAD_S" --concurrency "$CONCURRENCY" \
  --expected "$WORK/expected.tsv" --log "$WORK/posts.tsv" </dev/null >"$WORK/load.out" 2>&1 &
LOADER_PID=$!
set +e
wait "$LOADER_PID"
LOAD_RC=$?
set -e
LOADER_PID=
log "load: $(cat "$WORK/load.out")"
[[ $LOAD_RC == 0 ]] || die "not every POST was answered 200"

# --- 4. drain -----------------------------------------------------------------------------------
RETRY_ARGS=()
for d in "${RETRY_DELAYS[@]}"; do RETRY_ARGS+=(--retry-queue "$QUEUE.retry.${d}s"); done
set +e
"$WORK/venv/bin/python" scripts/worker-soak.py wait --amqp "$AMQP_URL" --expected "$WORK/expected.tsv" \
  "${SIM_URLS[@]}" --queue "$QUEUE" "${RETRY_ARGS[@]}" --dlq "$DLQ" --timeout "$DRAIN_TIMEOUT"
WAIT_RC=$?
set -e
T_DONE=$SECONDS
log "drain $([[ $WAIT_RC == 0 ]] && echo done || echo 'NOT done'): $((T_DONE - T_LOAD)) s after the load started" \
  "(fault plan clock $((T_DONE - SIM_T0)) s)"

# --- 5. stop, read ------------------------------------------------------------------------------
curl -sf --max-time 5 "http://127.0.0.1:$WORKER_ADMIN_PORT/metrics" >"$WORK/worker-metrics.txt" || true
stop_pid "$WORKER_PID" 30
WORKER_PID=
for pid in "${SIM_PIDS[@]}"; do stop_pid "$pid" 10; done
SIM_PIDS=()
stop_pid "$GATEWAY_PID" 15
GATEWAY_PID=
timeout 300 "$WORK/venv/bin/python" scripts/worker-soak.py dlq --amqp "$AMQP_URL" --dlq "$DLQ" \
  --out "$WORK/dlq.tsv" >"$WORK/dlq.out" 2>&1 || die "reading the DLQ: $(tail -3 "$WORK/dlq.out")"
log "$(cat "$WORK/dlq.out")"

# --- 6. report ----------------------------------------------------------------------------------
PANICS=$(cat "$WORK/worker.log" "$WORK/gateway.log" | grep -c 'panicked at' || true)
MODE=$([[ $ORGS == 2 ]] && echo "ORGS=2, two orgs" || echo "ORGS=1, one org with both fault plans")
echo
echo "=== worker soak: $MODE, N=$N, seed $SEED; load $LOAD_S s; drained in $((T_DONE - T_LOAD)) s" \
  "after the load started; total $((SECONDS - T_START)) s with the build; panics in the logs: $PANICS ==="
set +e
python3 scripts/worker-soak.py report --expected "$WORK/expected.tsv" "${SUMMARIES[@]}" --dlq "$WORK/dlq.tsv" \
  --metrics "$WORK/worker-metrics.txt" --worker-log "$WORK/worker.log" --mode "$MODE" --seed "$SEED"
REPORT_RC=$?
set -e
[[ $REPORT_RC == 0 && $WAIT_RC == 0 && $PANICS == 0 ]] || die "violations (seed $SEED; records in $WORK)"
log "ok: every good record written exactly once, only the bad ones dead-lettered (seed $SEED)"
exit 0
}
