# Shared by scripts/soak.sh and scripts/outage-run.sh: start the release gateway and read its
# admin port. Source it; the caller sets BIN, CONFIG, WORK, ADMIN_PORT and defines die().

metric() { # metric NAME: value of an unlabelled sample, or empty
  { curl -sf --max-time 2 "http://127.0.0.1:$ADMIN_PORT/metrics" || true; } | awk -v n="$1" '$1 == n { print $2; exit }'
}

# start_gateway: hookgate serve in the background (GATEWAY_PID), JSON logs appended to
# $WORK/gateway.log; returns once /healthz answers (15 s at most).
start_gateway() {
  "$BIN" serve --config "$CONFIG" --log-format json </dev/null >>"$WORK/gateway.log" 2>&1 &
  GATEWAY_PID=$!
  local i
  for ((i = 0; i < 150; i++)); do
    curl -sf --max-time 1 "http://127.0.0.1:$ADMIN_PORT/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$GATEWAY_PID" 2>/dev/null || { tail -5 "$WORK/gateway.log"; die "hookgate exited"; }
    sleep 0.1
  done
  die "hookgate not listening in 15 s"
}

# wait_broker_connected WHAT: waits up to 15 s for hookgate_broker_connected 1, else dies
# with "hookgate did not connect WHAT".
wait_broker_connected() {
  local i
  for ((i = 0; i < 150; i++)); do [[ $(metric hookgate_broker_connected) == 1 ]] && return 0; sleep 0.1; done
  die "hookgate did not connect $1"
}
