#!/usr/bin/env bash
# Randomized fault soak (issue #12; docs/reliability.md, "Fault soak").
#
# Checks the promise "every 2xx-answered request's payload ends in a RabbitMQ queue"
# under a seeded random mix of faults. Everything runs on 127.0.0.1, is bounded in time,
# and every process the script starts is ended by its PID (never by name):
#   1. builds the release binary; makes a venv with pika in the temp dir (to read queues);
#   2. starts a PRIVATE RabbitMQ node (scripts/lib/private-rabbit.sh: own node name, ports
#      and data dir; the shared broker on 5672 is never touched) and, in front of it, a TCP
#      fault proxy (scripts/soak.py proxy) with the modes pass / delay MS / blackhole /
#      reset (RST on every open connection, SO_LINGER 0);
#   3. starts hookgate (release, TLS with a throwaway dev CA) publishing through the proxy,
#      with the spool and the replay cache in the temp dir and four routes:
#        gha     github        queue soak.gha (quorum)   binds gha.#
#        ghb     github        queue soak.ghb (classic)  binds ghb.push only: ghb.release
#                                                        is unroutable
#        gen     generic_hmac  queue soak.gen (quorum)   binds gen.#
#        orphan  github        no queue binds orphan.*: every message unroutable
#   4. sends DURATION s of signed load (RATE req/s over CONCURRENCY TLS keep-alive
#      connections, scripts/soak.py load), every request with a unique id, its status
#      recorded; 1 request in OVERSIZE_EVERY carries an oversized header (a 320-byte
#      Content-Type or a 300-byte delivery id);
#   5. meanwhile runs the chaos plan for SEED (printed; scripts/soak.py plan): the proxy
#      switched between delay / blackhole / reset / pass, the broker node's Erlang VM
#      SIGKILLed and restarted, and the gateway SIGKILLed once and restarted on the same
#      spool and replay cache files;
#   6. stops the chaos (proxy back to pass, node up), waits up to DRAIN_TIMEOUT s for the
#      gateway's spool to drain (hookgate_spool_messages on /metrics), stops the gateway
#      with SIGTERM, reads `hookgate spool status` and, when the binary has it, `hookgate
#      spool quarantine list`; consumes every queue of the node (hookgate.unroutable too,
#      if the gateway declared it);
#   7. prints sent / 2xx / non-2xx by status / found / LOST (2xx ids found in no queue and
#      not quarantined, listed) / duplicates / in hookgate.unroutable / quarantined, and
#      exits 1 if anything was lost.
#
# Usage: scripts/soak.sh                    (5 minutes of load after the build)
#        DURATION=30 scripts/soak.sh        (short check)
#        SEED=1234 scripts/soak.sh          (repeat a run's chaos plan and request mix)
# Env:   DURATION (300 s), RATE (50 req/s), CONCURRENCY (8), SEED (random; printed),
#        OVERSIZE_EVERY (40; 0 = none), MIN_GAP/MAX_GAP (2/10 s between faults), MAX_HOLD
#        (10 s a fault lasts, blackholes up to 1.5x), DRAIN_TIMEOUT (180 s; the wait also
#        ends after STALL_TIMEOUT, 60 s, connected without the depth moving), KEEP_WORK=1
#        (keep the whole temp dir; a failed run keeps only its logs and records there, an
#        interrupted one nothing), RABBITMQ_BIN_DIR (/usr/lib/rabbitmq/bin).
# Needs: cargo, RabbitMQ server + Erlang (the node runs as the current user), openssl,
#        curl, python3 (3.11; standard library) with venv + pip reaching PyPI for pika.
set -euo pipefail

# One compound command: bash reads the whole file before it runs any of it, so an edit of
# this file during a run cannot derail the run.
{
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${DURATION:-300}
RATE=${RATE:-50}
CONCURRENCY=${CONCURRENCY:-8}
SEED=${SEED:-$(((RANDOM << 15) | RANDOM))}
OVERSIZE_EVERY=${OVERSIZE_EVERY:-40}
MIN_GAP=${MIN_GAP:-2}
MAX_GAP=${MAX_GAP:-10}
MAX_HOLD=${MAX_HOLD:-10}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-180}
STALL_TIMEOUT=${STALL_TIMEOUT:-60}
RABBITMQ_BIN_DIR=${RABBITMQ_BIN_DIR:-/usr/lib/rabbitmq/bin}
GITHUB_SECRET=soak-github-secret
GENERIC_SECRET=soak-generic-secret
UNROUTABLE_QUEUE=hookgate.unroutable

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
die() { log "FAILED: $*"; exit 1; }

WORK=$(mktemp -d /tmp/hookgate-soak.XXXXXX)
NODE_DIR=$WORK/rabbit
mkdir -p "$NODE_DIR"
LOADER_PID= GATEWAY_PID= PROXY_PID= NODE_SCRIPT_PID= NAP_PID=

# --- process helpers (by PID only) and the private node: scripts/lib/private-rabbit.sh ----
# shellcheck source=lib/private-rabbit.sh
source "$ROOT/scripts/lib/private-rabbit.sh"
# shellcheck source=lib/gateway.sh
source "$ROOT/scripts/lib/gateway.sh"

stop_pid() { # stop_pid PID SECONDS: SIGTERM, SIGKILL after SECONDS, reaped
  [[ -n $1 ]] && kill -0 "$1" 2>/dev/null || return 0
  kill -TERM "$1" 2>/dev/null
  wait_gone "$1" "$2" || { kill -KILL "$1" 2>/dev/null; wait_gone "$1" 5; }
  return 0
}

cleanup() {
  local rc=$?
  set +e
  trap - INT TERM
  [[ -n $NAP_PID ]] && kill -TERM "$NAP_PID" 2>/dev/null
  stop_pid "$LOADER_PID" 5
  stop_pid "$GATEWAY_PID" 15
  stop_pid "$PROXY_PID" 5
  stop_node 20
  if [[ ${KEEP_WORK:-} != 1 ]]; then
    if [[ $rc -eq 130 ]]; then
      rc=0   # interrupted: nothing to look at, remove it all (the exit status stays 130)
      remove_work 0
      exit 130
    elif [[ $rc -ne 0 ]]; then
      # A failed run keeps its logs and records (requests.tsv, found.tsv, lost.txt, logs),
      # not the bulk: the node's data, the venv, the spool and the replay cache.
      rm -rf "$NODE_DIR/mnesia" "$WORK/venv" "$WORK"/*.redb "$WORK/certs"
    fi
  fi
  remove_work $rc
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# nap SECONDS: a sleep that a signal interrupts at once (the trap runs without waiting).
nap() { sleep "$1" & NAP_PID=$!; wait "$NAP_PID" || true; NAP_PID=; }

log "soak: DURATION=$DURATION s RATE=$RATE req/s CONCURRENCY=$CONCURRENCY SEED=$SEED" \
  "OVERSIZE_EVERY=$OVERSIZE_EVERY MIN_GAP=$MIN_GAP MAX_GAP=$MAX_GAP MAX_HOLD=$MAX_HOLD" \
  "DRAIN_TIMEOUT=$DRAIN_TIMEOUT STALL_TIMEOUT=$STALL_TIMEOUT (repeat with SEED=$SEED)"
log "work dir $WORK"

# --- 1. build, venv ------------------------------------------------------------------------
log "building (release): hookgate"
cargo build --release --locked --bin hookgate
BIN=$ROOT/target/release/hookgate
[[ -x $RABBITMQ_BIN_DIR/rabbitmq-server ]] || die "no $RABBITMQ_BIN_DIR/rabbitmq-server (set RABBITMQ_BIN_DIR)"
log "venv with pika (reads the queues at the end)"
python3 -m venv "$WORK/venv"
timeout 180 "$WORK/venv/bin/pip" install -q --disable-pip-version-check pika ||
  die "pip install pika failed (PyPI reachable?)"
HAS_QUARANTINE=0
SPOOL_HELP=$("$BIN" spool --help 2>&1 || true)
grep -q '^ *quarantine' <<<"$SPOOL_HELP" && HAS_QUARANTINE=1
log "hookgate spool quarantine: $([[ $HAS_QUARANTINE == 1 ]] && echo present || echo 'absent (skipped)')"

python3 scripts/soak.py plan --seed "$SEED" --duration "$DURATION" --min-gap "$MIN_GAP" \
  --max-gap "$MAX_GAP" --max-hold "$MAX_HOLD" >"$WORK/plan.txt"
log "chaos plan (t s after the load starts, action, arg, hold s):"
sed 's/^/    /' "$WORK/plan.txt"

read -r AMQP_PORT DIST_PORT PROXY_PORT CTL_PORT LISTEN_PORT ADMIN_PORT < <(free_ports 6)

# --- 2. private RabbitMQ node and the fault proxy --------------------------------------------
NODE=hgsoak-$$@localhost
node_files "private soak node"
log "starting private RabbitMQ node $NODE on 127.0.0.1:$AMQP_PORT (dist $DIST_PORT)"
start_node
await_node 120
log "node up, beam pid $(beam_pid)"

python3 scripts/soak.py proxy --listen "$PROXY_PORT" --upstream "$AMQP_PORT" --control "$CTL_PORT" \
  --lifetime $((DURATION + DRAIN_TIMEOUT + 900)) </dev/null >>"$WORK/proxy.log" 2>&1 &
PROXY_PID=$!

proxy() { # proxy COMMAND: one command on the control port; prints the reply
  local fd reply
  exec {fd}<>"/dev/tcp/127.0.0.1/$CTL_PORT" || return 1
  printf '%s\n' "$*" >&"$fd"
  read -r -t 5 reply <&"$fd" || reply="no reply"
  exec {fd}>&-
  echo "$reply"
}
for ((i = 0; i < 50; i++)); do proxy status >/dev/null 2>&1 && break; sleep 0.1; done
proxy status >/dev/null 2>&1 || die "fault proxy not answering on $CTL_PORT: $(tail -3 "$WORK/proxy.log")"
log "fault proxy pid $PROXY_PID: 127.0.0.1:$PROXY_PORT -> $AMQP_PORT (control $CTL_PORT)"

# --- 3. hookgate -----------------------------------------------------------------------------
scripts/gen-dev-cert.sh "$WORK/certs" >/dev/null
printf '%s\n' "$GITHUB_SECRET" >"$WORK/github.secret"
printf '%s\n' "$GENERIC_SECRET" >"$WORK/generic.secret"
CONFIG=$WORK/hookgate.toml
github_route() {
  printf '[[routes]]\nname = "%s"\npath = "/hooks/%s"\nkind = "github"\nsecrets = [{ file = "%s" }]\n' \
    "$1" "$1" "$WORK/github.secret"
}
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
url = "amqp://guest:guest@127.0.0.1:$PROXY_PORT/%2f"
exchange = "hookgate"
[[amqp.queues]]
name = "soak.gha"
bindings = ["gha.#"]
type = "quorum"
[[amqp.queues]]
name = "soak.ghb"
bindings = ["ghb.push"]
type = "classic"
[[amqp.queues]]
name = "soak.gen"
bindings = ["gen.#"]
type = "quorum"
[spool]
enabled = true
path = "$WORK/spool.redb"
[dedupe]
enabled = true
path = "$WORK/dedupe.redb"
$(github_route gha)
$(github_route ghb)
$(github_route orphan)
[[routes]]
name = "gen"
path = "/hooks/gen"
kind = "generic_hmac"
secrets = [{ file = "$WORK/generic.secret" }]
header = "X-Signature"
prefix = "sha256="
signed_payload = "{timestamp}.{body}"
timestamp_header = "X-Timestamp"
id_header = "X-Request-Id"
event_header = "X-Event-Type"
TOML
"$BIN" check-config --config "$CONFIG" >"$WORK/check-config.out" || die "check-config: $(cat "$WORK/check-config.out")"

log "starting hookgate on https://127.0.0.1:$LISTEN_PORT (admin $ADMIN_PORT)"
start_gateway
wait_broker_connected "through the proxy"
log "hookgate pid $GATEWAY_PID connected"

# --- 4. load -----------------------------------------------------------------------------------
python3 scripts/soak.py load --port "$LISTEN_PORT" --ca "$WORK/certs/dev-ca.pem" --seed "$SEED" \
  --duration "$DURATION" --rate "$RATE" --concurrency "$CONCURRENCY" \
  --oversize-every "$OVERSIZE_EVERY" --github-secret "$GITHUB_SECRET" \
  --generic-secret "$GENERIC_SECRET" --log "$WORK/requests.tsv" </dev/null >"$WORK/load.out" 2>&1 &
LOADER_PID=$!
T0=$(date +%s.%N)
elapsed() { awk -v t0="$T0" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - t0 }'; }
log "load: $RATE req/s over $CONCURRENCY connections for $DURATION s (loader pid $LOADER_PID)"

# --- 5. chaos ------------------------------------------------------------------------------------
BROKER_KILLS=0 GATEWAY_KILLS=0 PROXY_FAULTS=0
broker_down() {
  local beam
  beam=$(beam_pid) || die "no beam pid to kill"
  kill -KILL "$beam"
  wait_gone "$NODE_SCRIPT_PID" 10 || die "node script still running after SIGKILL of beam $beam"
  BROKER_KILLS=$((BROKER_KILLS + 1))
  log "t=$(elapsed)s SIGKILLed the broker node (beam.smp pid $beam)"
}
broker_up() {
  start_node
  await_node 120
  log "t=$(elapsed)s broker node back, beam pid $(beam_pid)"
}

while read -r -u 3 at action arg hold; do
  wait_s=$(awk -v t0="$T0" -v at="$at" -v now="$(date +%s.%N)" 'BEGIN { d = t0 + at - now; print (d > 0 ? d : 0) }')
  nap "$wait_s"
  kill -0 "$LOADER_PID" 2>/dev/null || { log "load ended before the plan did"; break; }
  awk -v e="$(elapsed)" -v d="$DURATION" 'BEGIN { exit !(e > d - 3) }' && { log "t=$(elapsed)s plan cut at the end of the load"; break; }
  case $action in
    proxy_delay | proxy_blackhole | proxy_reset)
      mode=${action#proxy_}
      [[ $mode == delay ]] && mode="delay $arg"
      log "t=$(elapsed)s proxy $mode for ${hold}s: $(proxy "$mode")"
      PROXY_FAULTS=$((PROXY_FAULTS + 1))
      nap "$hold"
      log "t=$(elapsed)s proxy pass: $(proxy pass)"
      ;;
    broker_kill)
      broker_down
      nap "$hold"
      log "t=$(elapsed)s restarting the broker node after ${hold}s down"
      broker_up
      ;;
    gateway_kill)
      kill -0 "$GATEWAY_PID" 2>/dev/null || die "hookgate (pid $GATEWAY_PID) exited by itself: $(tail -3 "$WORK/gateway.log")"
      depth=$(metric hookgate_spool_messages)
      kill -KILL "$GATEWAY_PID"
      wait "$GATEWAY_PID" 2>/dev/null || true
      GATEWAY_KILLS=$((GATEWAY_KILLS + 1))
      log "t=$(elapsed)s SIGKILLed hookgate (pid $GATEWAY_PID, ${depth:-?} in its spool); restarting it"
      start_gateway
      log "t=$(elapsed)s hookgate restarted, pid $GATEWAY_PID, spool depth $(metric hookgate_spool_messages)"
      ;;
    quiet)
      nap "$hold"
      ;;
  esac
done 3<"$WORK/plan.txt"

# --- 6. end of chaos, drain, stop, read --------------------------------------------------------
log "t=$(elapsed)s chaos over ($PROXY_FAULTS proxy faults, $BROKER_KILLS broker kills, $GATEWAY_KILLS gateway kill); waiting for the load"
set +e
wait "$LOADER_PID"
LOAD_RC=$?
set -e
LOADER_PID=
[[ $LOAD_RC == 0 ]] || die "load generator failed ($LOAD_RC): $(tail -5 "$WORK/load.out")"
log "load finished: $(tr '\n' ' ' <"$WORK/load.out")"
log "proxy pass: $(proxy pass)"
beam_pid >/dev/null || broker_up

# Bounded: DRAIN_TIMEOUT in all, or STALL_TIMEOUT s connected without the depth moving.
t0=$SECONDS
depth= last= since=$SECONDS
while ((SECONDS - t0 < DRAIN_TIMEOUT)); do
  kill -0 "$GATEWAY_PID" 2>/dev/null || { log "hookgate exited by itself: $(tail -3 "$WORK/gateway.log")"; break; }
  depth=$(metric hookgate_spool_messages)
  connected=$(metric hookgate_broker_connected)
  [[ $depth == 0 && $connected == 1 ]] && break
  [[ $depth != "$last" || $connected != 1 ]] && { last=$depth; since=$SECONDS; }
  if ((SECONDS - since >= STALL_TIMEOUT)); then
    log "spool stalled: depth $depth unchanged for $STALL_TIMEOUT s with the broker connected"
    break
  fi
  sleep 1
done
if [[ $depth == 0 ]]; then
  log "spool drained $((SECONDS - t0)) s after the load; forwarded by this gateway: $(metric hookgate_spool_forwarded_total)"
else
  log "spool NOT drained after $((SECONDS - t0)) s: hookgate_spool_messages=${depth:-?}"
fi

kill -TERM "$GATEWAY_PID" 2>/dev/null || true
wait_gone "$GATEWAY_PID" 30 || { log "hookgate did not exit 30 s after SIGTERM: SIGKILL"; kill -KILL "$GATEWAY_PID"; }
set +e; wait "$GATEWAY_PID" 2>/dev/null; GW_RC=$?; set -e
GATEWAY_PID=
log "hookgate stopped (exit $GW_RC)"
"$BIN" spool status --config "$CONFIG" >"$WORK/spool-status.out" 2>"$WORK/spool-status.err" || true
SPOOL_LEFT=$(awk '$1 == "messages:" { print $2 }' "$WORK/spool-status.out")
log "hookgate spool status: $(tr '\n' ' ' <"$WORK/spool-status.out")"
QUARANTINE_ARGS=()
if [[ $HAS_QUARANTINE == 1 ]]; then
  "$BIN" spool quarantine list --config "$CONFIG" >"$WORK/quarantine.txt" 2>&1 || log "spool quarantine list failed: $(tail -3 "$WORK/quarantine.txt")"
  QUARANTINE_ARGS=(--quarantine "$WORK/quarantine.txt")
  log "spool quarantine list: $(wc -l <"$WORK/quarantine.txt") lines"
fi

ctl list_queues --no-table-headers name messages >"$WORK/queues.txt" || die "list_queues failed"
log "queues on the node: $(tr '\t\n' '= ' <"$WORK/queues.txt")"
mapfile -t QUEUES < <(awk '{ print $1 }' "$WORK/queues.txt")
((${#QUEUES[@]} > 0)) || die "no queues on the node"
set +e
timeout 900 "$WORK/venv/bin/python" scripts/soak.py dump --url "amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f" \
  --out "$WORK/found.tsv" "${QUEUES[@]}" >"$WORK/dump.out" 2>&1
DUMP_RC=$?
set -e
((DUMP_RC == 0 || DUMP_RC == 2)) || die "reading the queues failed ($DUMP_RC): $(tail -5 "$WORK/dump.out")"
log "read: $(tr '\n' ' ' <"$WORK/dump.out")"
UNREADABLE=$(awk '/UNREADABLE/ { printf "%s%s", sep, $2; sep = "," }' "$WORK/dump.out")
[[ -z $UNREADABLE ]] || log "queues that could not be read: $UNREADABLE (see $NODE_DIR/log)"

# --- 7. report -------------------------------------------------------------------------------------
PANICS=$(grep -c 'panicked at' "$WORK/gateway.log" || true)
echo
echo "=== soak: ${DURATION} s, ${RATE} req/s, ${CONCURRENCY} connections, seed ${SEED}: $PROXY_FAULTS proxy faults, $BROKER_KILLS broker SIGKILLs, $GATEWAY_KILLS gateway SIGKILL; hookgate exit on SIGTERM $GW_RC; panics in its log: $PANICS ==="
set +e
python3 scripts/soak.py report --seed "$SEED" --requests "$WORK/requests.tsv" --found "$WORK/found.tsv" \
  --unroutable-queue "$UNROUTABLE_QUEUE" --lost-out "$WORK/lost.txt" --unreadable "$UNREADABLE" --spool-left "${SPOOL_LEFT:-?}" "${QUARANTINE_ARGS[@]}"
REPORT_RC=$?
set -e
[[ $REPORT_RC == 0 ]] || die "messages lost or queues unreadable (seed $SEED; records in $WORK)"
log "ok: nothing lost (seed $SEED)"
exit 0
}
