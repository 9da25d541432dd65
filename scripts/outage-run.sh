#!/usr/bin/env bash
# The longer scripted outage run behind the figures in docs/reliability.md.
#
# What it does (everything on 127.0.0.1, everything it starts is ended by PID):
#   1. builds the release binary and two examples: outage_load (load generator)
#      and count_ids (reads the queue back by message_id);
#   2. starts a PRIVATE RabbitMQ node: own node name (hgoutage-<pid>@localhost), own AMQP
#      and distribution ports, data/log dirs under a temp dir, no plugins. The machine's
#      shared broker (5672) and epmd are never touched;
#   3. starts hookgate (release, TLS with a throwaway dev CA from scripts/gen-dev-cert.sh)
#      on fixed free ports, publishing to that node through nothing but its port, with a
#      spool file in the temp dir and a quorum queue `hookgate.outage` bound to `#`;
#   4. runs DURATION s (60) of concurrent signed GitHub deliveries (CONCURRENCY senders, 16)
#      and, on the load's clock:
#        t=15 s  SIGKILL the broker node's Erlang VM (beam.smp, pid from its pid file)
#        t=30 s  SIGKILL the gateway, then start it again at once (same config, same spool)
#        t=45 s  restart the broker node (same name, ports and data dir)
#   5. waits until the spool is empty (hookgate_spool_messages on /metrics), stops the
#      gateway with SIGTERM (expects exit 0), checks `hookgate spool status` says 0,
#      consumes the queue and counts the messages by message_id against the ids the load
#      generator saw answered 2xx;
#   6. prints: requests sent, 2xx answers, messages found, distinct ids found, lost (must
#      be 0), duplicates, and the 2xx rate while the broker was down (15-45 s) vs before
#      (0-15 s): the spool's throughput as a ratio of the normal one. Also when the node
#      was really back (a restart recovers the queue first, which takes a while after a
#      large load) and the rate from then on. Exits 1 if anything was lost.
#
# Usage: scripts/outage-run.sh            (about 2 minutes after the build)
# Env:   DURATION (60), CONCURRENCY (16), KEEP_WORK=1 keeps the temp dir (logs, CSV of
#        every request), RABBITMQ_BIN_DIR (default /usr/lib/rabbitmq/bin: the Debian
#        package's real scripts; /usr/sbin/rabbitmq-server would switch to the rabbitmq
#        user and its cookie).
# Needs: cargo, RabbitMQ server + Erlang installed (the node runs as the current user),
#        openssl, curl, python3 (to pick free ports).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${DURATION:-60}
CONCURRENCY=${CONCURRENCY:-16}
KILL_BROKER_AT=$((DURATION / 4))          # 15
KILL_GATEWAY_AT=$((DURATION / 2))         # 30
RESTART_BROKER_AT=$((DURATION * 3 / 4))   # 45
RABBITMQ_BIN_DIR=${RABBITMQ_BIN_DIR:-/usr/lib/rabbitmq/bin}
SECRET=dev-github-secret
QUEUE=hookgate.outage

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
die() { log "FAILED: $*"; exit 1; }

WORK=$(mktemp -d /tmp/hookgate-outage.XXXXXX)
NODE_DIR=$WORK/rabbit
mkdir -p "$NODE_DIR"
LOADER_PID= GATEWAY_PID= NODE_SCRIPT_PID=

# --- process helpers (by PID only) and the private node: scripts/lib/private-rabbit.sh ----
# shellcheck source=lib/private-rabbit.sh
source "$ROOT/scripts/lib/private-rabbit.sh"
# shellcheck source=lib/gateway.sh
source "$ROOT/scripts/lib/gateway.sh"

cleanup() {
  local rc=$?
  set +e
  [[ -n $LOADER_PID ]] && kill -TERM "$LOADER_PID" 2>/dev/null && wait_gone "$LOADER_PID" 5
  if [[ -n $GATEWAY_PID ]] && kill -0 "$GATEWAY_PID" 2>/dev/null; then
    kill -TERM "$GATEWAY_PID"; wait_gone "$GATEWAY_PID" 15 || kill -KILL "$GATEWAY_PID"
  fi
  stop_node 20
  remove_work $rc
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. build ------------------------------------------------------------------------------
log "building (release): hookgate, examples outage_load and count_ids"
cargo build --release --locked --bin hookgate --example outage_load --example count_ids
BIN=$ROOT/target/release/hookgate
LOADER=$ROOT/target/release/examples/outage_load
COUNT=$ROOT/target/release/examples/count_ids
[[ -x $RABBITMQ_BIN_DIR/rabbitmq-server ]] || die "no $RABBITMQ_BIN_DIR/rabbitmq-server (set RABBITMQ_BIN_DIR)"

read -r AMQP_PORT DIST_PORT LISTEN_PORT ADMIN_PORT < <(free_ports 4)

# --- 2. private RabbitMQ node ----------------------------------------------------------------
NODE=hgoutage-$$@localhost
node_files "private outage-run node"

log "starting private RabbitMQ node $NODE on 127.0.0.1:$AMQP_PORT (dist $DIST_PORT), data in $NODE_DIR"
start_node
await_node 90
log "node up, beam pid $(beam_pid)"

# --- 3. hookgate ---------------------------------------------------------------------------
scripts/gen-dev-cert.sh "$WORK/certs" >/dev/null
printf '%s\n' "$SECRET" >"$WORK/github.secret"
CONFIG=$WORK/hookgate.toml
cat >"$CONFIG" <<TOML
[server]
listen = "127.0.0.1:$LISTEN_PORT"
shutdown_grace_ms = 5000
max_concurrent_requests = 1024
[server.tls]
cert = "$WORK/certs/server.pem"
key = "$WORK/certs/server.key"
[admin]
listen = "127.0.0.1:$ADMIN_PORT"
[amqp]
url = "amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f"
exchange = "hookgate"
[[amqp.queues]]
name = "$QUEUE"
bindings = ["#"]
type = "quorum"
[spool]
path = "$WORK/spool.redb"
max_messages = 2000000
max_bytes = 8589934592
[[routes]]
name = "github"
path = "/hooks/github"
kind = "github"
secrets = [{ file = "$WORK/github.secret" }]
TOML
"$BIN" check-config --config "$CONFIG" >/dev/null

log "starting hookgate on https://127.0.0.1:$LISTEN_PORT (admin $ADMIN_PORT)"
start_gateway
wait_broker_connected "to the node"
log "hookgate pid $GATEWAY_PID connected"

# --- 4. load and the outage timeline ---------------------------------------------------------
"$LOADER" --url "https://127.0.0.1:$LISTEN_PORT/hooks/github" --ca "$WORK/certs/dev-ca.pem" \
  --secret "$SECRET" --duration-s "$DURATION" --concurrency "$CONCURRENCY" \
  --accepted "$WORK/accepted.txt" --log "$WORK/requests.csv" \
  --window "before=0-$KILL_BROKER_AT" --window "outage=$KILL_BROKER_AT-$RESTART_BROKER_AT" \
  >"$WORK/load.out" 2>&1 &
LOADER_PID=$!
T0=$(date +%s.%N)
at() { # at SECONDS: sleep until SECONDS after the load started
  local d
  d=$(awk -v t0="$T0" -v s="$1" -v now="$(date +%s.%N)" 'BEGIN { d = t0 + s - now; print (d > 0 ? d : 0) }')
  sleep "$d"
}
log "load: $CONCURRENCY senders for $DURATION s"

at "$KILL_BROKER_AT"
BEAM=$(beam_pid) || die "no beam pid"
kill -KILL "$BEAM"
wait_gone "$NODE_SCRIPT_PID" 10 || die "node script still running after SIGKILL of beam $BEAM"
log "t=${KILL_BROKER_AT}s SIGKILLed the broker node (beam.smp pid $BEAM)"

at "$KILL_GATEWAY_AT"
SPOOLED=$(metric hookgate_spool_messages)
kill -KILL "$GATEWAY_PID"
wait "$GATEWAY_PID" 2>/dev/null || true
log "t=${KILL_GATEWAY_AT}s SIGKILLed hookgate (pid $GATEWAY_PID, ${SPOOLED:-?} messages in its spool); restarting it"
start_gateway
log "hookgate restarted, pid $GATEWAY_PID, spool depth at start $(metric hookgate_spool_messages)"

at "$RESTART_BROKER_AT"
log "t=${RESTART_BROKER_AT}s restarting the broker node"
start_node
await_node 90
NODE_BACK=$(awk -v t0="$T0" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - t0 }')
log "node back at t=${NODE_BACK}s, beam pid $(beam_pid)"

wait "$LOADER_PID" || die "load generator failed: $(tail -5 "$WORK/load.out")"
LOADER_PID=
log "load finished"

# --- 5. drain, stop, count -------------------------------------------------------------------
t0=$SECONDS
while ((SECONDS - t0 < 180)); do
  depth=$(metric hookgate_spool_messages)
  [[ $depth == 0 ]] && break
  sleep 0.5
done
[[ $(metric hookgate_spool_messages) == 0 ]] || die "spool not drained in 180 s (depth $depth)"
log "spool drained $((SECONDS - t0)) s after the load ended; forwarded by this gateway: $(metric hookgate_spool_forwarded_total)"

kill -TERM "$GATEWAY_PID"
wait_gone "$GATEWAY_PID" 20 || die "hookgate did not exit after SIGTERM"
set +e; wait "$GATEWAY_PID" 2>/dev/null; GW_RC=$?; set -e
GATEWAY_PID=
log "hookgate stopped with SIGTERM (exit ${GW_RC})"
SPOOL_STATUS=$("$BIN" spool status --config "$CONFIG" | awk '$1 == "messages:" { print $2 }')
log "hookgate spool status: messages $SPOOL_STATUS"

"$COUNT" --url "amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f" --queue "$QUEUE" \
  --accepted "$WORK/accepted.txt" --timeout-s 300 >"$WORK/count.out" 2>&1 || true

# --- 6. report -------------------------------------------------------------------------------
val() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }
rate() { awk -v k="$2" '$1 == "rate" && $2 == k { print $3; exit }' "$1"; }
echo
echo "=== load generator ==="
cat "$WORK/load.out"
echo "=== queue count ==="
cat "$WORK/count.out"
SENT=$(val "$WORK/load.out" sent)
OK=$(val "$WORK/load.out" 2xx)
ERRORS=$(val "$WORK/load.out" errors)
MSGS=$(val "$WORK/count.out" messages)
DISTINCT=$(val "$WORK/count.out" distinct_ids)
LOST=$(val "$WORK/count.out" lost)
DUPS=$(val "$WORK/count.out" duplicates)
EXTRA=$(val "$WORK/count.out" unacknowledged_found)
BEFORE=$(rate "$WORK/load.out" before)
OUTAGE=$(rate "$WORK/load.out" outage)
# 2xx/s once the node was back (it recovers its queue first), if before the load ended.
AFTER=$(awk -F, -v from="$NODE_BACK" -v to="$DURATION" '
  NR > 1 && $3 >= 200 && $3 < 300 && $1 >= from * 1000 && $1 < to * 1000 { n++ }
  END { if (to - from >= 1) printf "%.1f", n / (to - from); else print "n/a (load over)" }' "$WORK/requests.csv")
RATIO=$(awk -v a="$OUTAGE" -v b="$BEFORE" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo
echo "=== outage run summary (${DURATION} s, ${CONCURRENCY} senders; broker SIGKILLed t=${KILL_BROKER_AT}s, restarted t=${RESTART_BROKER_AT}s; gateway SIGKILLed+restarted t=${KILL_GATEWAY_AT}s) ==="
printf '%-44s %s\n' "requests sent" "$SENT"
printf '%-44s %s\n' "2xx answers" "$OK"
printf '%-44s %s\n' "transport errors (not accepted)" "$ERRORS"
printf '%-44s %s\n' "messages found in the queue" "$MSGS"
printf '%-44s %s\n' "distinct ids found" "$DISTINCT"
printf '%-44s %s\n' "lost (2xx ids not found, must be 0)" "$LOST"
printf '%-44s %s\n' "duplicates" "$DUPS"
printf '%-44s %s\n' "ids found but not answered 2xx" "$EXTRA"
printf '%-44s %s\n' "2xx/s before the outage (0-${KILL_BROKER_AT} s)" "$BEFORE"
printf '%-44s %s\n' "2xx/s broker down (${KILL_BROKER_AT}-${RESTART_BROKER_AT} s)" "$OUTAGE"
printf '%-44s %s\n' "broker node back (restart + recovery) at" "t=${NODE_BACK}s"
printf '%-44s %s\n' "2xx/s broker back (${NODE_BACK}-${DURATION} s)" "$AFTER"
printf '%-44s %s\n' "spool throughput ratio (down / before)" "$RATIO"
printf '%-44s %s\n' "hookgate exit on SIGTERM" "$GW_RC"
[[ $LOST == 0 && -n $MSGS ]] || die "messages lost (or the count failed)"
[[ $GW_RC == 0 ]] || die "hookgate exited $GW_RC on SIGTERM"
log "ok: nothing lost"
