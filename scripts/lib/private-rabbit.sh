# Sourced by scripts/bench.sh and scripts/outage-run.sh: process helpers that act on PIDs
# only, and a private RabbitMQ node (its own node name, ports and data directory, no
# plugins) run as the current user from the Debian package's scripts, so the machine's
# shared broker is never touched.
#
# The caller sets WORK (its work directory), NODE_DIR (the node's data directory, existing),
# NODE (name@localhost), AMQP_PORT, DIST_PORT, RABBITMQ_BIN_DIR, and defines log and die.

# wait_gone PID SECONDS: true once PID has exited (reaped if it is our child).
wait_gone() {
  local pid=$1 limit=$2 i
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    # A child that exited stays a zombie until waited for: reap it if so.
    if [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* ]]; then wait "$pid" 2>/dev/null || true; return 0; fi
    sleep 0.1
  done
  return 1
}

# beam_pid: the private node's Erlang VM pid, checked to be a beam for our data dir.
beam_pid() {
  local pid
  pid=$(cat "$NODE_DIR/node.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "beam.*$NODE_DIR" || return 1
  echo "$pid"
}

# free_ports N: N free loopback ports on one line, avoiding 35672-35692 (rabbitmqctl's
# own distribution ports).
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
held, ports = [], []
while len(ports) < int(sys.argv[1]):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); held.append(s)
    p = s.getsockname()[1]
    if not 35672 <= p <= 35692:
        ports.append(p)
print(*ports)
PY
}

# node_files COMMENT: the node's (empty) plugin list, config and env files.
node_files() {
  echo '[].' >"$NODE_DIR/enabled_plugins"
  echo "# $1" >"$NODE_DIR/rabbitmq.conf"
  : >"$NODE_DIR/rabbitmq-env.conf"
}

# start_node [PREFIX...]: starts rabbitmq-server in the background (under PREFIX, e.g.
# `taskset -c 0`, when given), with nothing RabbitMQ/Erlang-specific from the caller's
# environment; sets NODE_SCRIPT_PID.
start_node() {
  rm -f "$NODE_DIR/node.pid"
  (
    for v in $(env | grep -oE '^(RABBITMQ|ERL)_[A-Za-z0-9_]*'); do unset "$v"; done
    export HOME=$NODE_DIR RABBITMQ_NODENAME=$NODE RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
      RABBITMQ_NODE_PORT=$AMQP_PORT RABBITMQ_DIST_PORT=$DIST_PORT RABBITMQ_BASE=$NODE_DIR \
      RABBITMQ_MNESIA_BASE=$NODE_DIR/mnesia RABBITMQ_LOG_BASE=$NODE_DIR/log \
      RABBITMQ_PID_FILE=$NODE_DIR/node.pid RABBITMQ_ENABLED_PLUGINS_FILE=$NODE_DIR/enabled_plugins \
      RABBITMQ_CONFIG_FILE=$NODE_DIR/rabbitmq.conf RABBITMQ_ADVANCED_CONFIG_FILE=$NODE_DIR/advanced.config \
      RABBITMQ_CONF_ENV_FILE=$NODE_DIR/rabbitmq-env.conf \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
    exec "$@" "$RABBITMQ_BIN_DIR/rabbitmq-server" </dev/null >>"$NODE_DIR/server.out" 2>&1
  ) &
  NODE_SCRIPT_PID=$!
}

# ctl ARGS...: rabbitmqctl against the private node, bounded to 30 s.
ctl() {
  env -i HOME="$NODE_DIR" PATH="$PATH" LANG=C.UTF-8 \
    timeout 30 "$RABBITMQ_BIN_DIR/rabbitmqctl" -q -n "$NODE" "$@"
}

# await_node SECONDS: returns once the node is booted and its AMQP port answers; dies if
# rabbitmq-server exits or SECONDS pass.
await_node() {
  local limit=$1 t0=$SECONDS
  while ((SECONDS - t0 < limit)); do
    kill -0 "$NODE_SCRIPT_PID" 2>/dev/null || { tail -20 "$NODE_DIR/server.out"; die "rabbitmq-server exited while starting"; }
    if [[ -s $NODE_DIR/node.pid ]] && ctl await_startup --timeout 20 >/dev/null 2>&1 &&
      (exec 3<>"/dev/tcp/127.0.0.1/$AMQP_PORT") 2>/dev/null; then
      return 0
    fi
    sleep 0.25
  done
  tail -20 "$NODE_DIR/server.out"
  die "node $NODE not up in $limit s"
}

# stop_node SECONDS: stops the private node (SIGTERM to its beam, SIGKILL after SECONDS)
# and reaps the rabbitmq-server script.
stop_node() {
  local beam
  if beam=$(beam_pid); then
    kill -TERM "$beam"; wait_gone "$beam" "$1" || kill -KILL "$beam"
  fi
  [[ -n ${NODE_SCRIPT_PID:-} ]] && wait_gone "$NODE_SCRIPT_PID" 10
  return 0
}

# remove_work RC: deletes the work directory WORK, or keeps it (and says so) when the run
# failed (RC != 0) or KEEP_WORK=1.
remove_work() {
  if [[ ${KEEP_WORK:-} == 1 || $1 -ne 0 ]]; then
    log "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
