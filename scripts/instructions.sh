#!/usr/bin/env bash
# Instructions per request: the gateway's CPU work counted by callgrind, not timed
# (docs/performance.md, "Session 13"). On a 2-core VM without hardware counters the
# timed A/B of scripts/bench.sh has ~10-20 % noise between runs; a count of executed
# instructions per 2xx is the same from run to run to ~1 %, so a change of 2 % shows.
#
#   scripts/instructions.sh                          # target/release/hookgate
#   GATEWAY_BIN=/tmp/old scripts/instructions.sh     # another build (A/B: run both)
#   PROTO=1 scripts/instructions.sh                  # examples/proto_gateway (#20's baseline)
#
# What runs: hookgate `serve` under `taskset -c "${CORE_GATEWAY:-1}" valgrind --tool=callgrind --instr-atstart=no`
# (nothing counted while it starts and warms up), on the machine's RabbitMQ
# (AMQP_URL, default the local broker; a uniquely named exchange and quorum queue,
# deleted at the end), TLS with a dev certificate, the GitHub route with the replay
# cache on, as scripts/bench.sh configures it. wrk posts GitHub-signed 1 KiB JSON with
# unique delivery ids on CONNS (64) keep-alive connections: WARMUP_S (5) seconds
# uncounted, then LOAD_S (20) seconds counted. Under valgrind the gateway runs ~50x
# slower and its threads one at a time, so the rate and the publishing groups are not
# the real ones: the count is of the work per request, per thread.
#
# Output (stdout, one line per thread and a total): instructions per 2xx, and the
# 2xx counted. Everything on 127.0.0.1; every process it starts is ended by its PID.
# Needs: valgrind (callgrind_control), wrk, openssl, curl, python3, rabbitmqctl.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PROTO=${PROTO:-0}
if [[ $PROTO == 1 ]]; then
  BIN=${GATEWAY_BIN:-$ROOT/target/release/examples/proto_gateway}
  # Called once per request: it builds the message's properties.
  PER_REQUEST="ContractArgs::properties"
else
  BIN=${GATEWAY_BIN:-$ROOT/target/release/hookgate}
  PER_REQUEST="hookgate::verify::github::verify"
fi
CONNS=${CONNS:-64}
WARMUP_S=${WARMUP_S:-5}
LOAD_S=${LOAD_S:-20}
AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
SECRET=instr-github-secret
[[ -x $BIN ]] || { echo "no gateway binary $BIN (cargo build --release --locked)" >&2; exit 1; }
for tool in valgrind callgrind_control wrk openssl curl python3 rabbitmqctl; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done

# shellcheck source=lib/webhook-body.sh
source "$ROOT/scripts/lib/webhook-body.sh"

WORK=$(mktemp -d /tmp/hookgate-instr.XXXXXX)
NAME="hginstr.$$"
PID=
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() {
  if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  # The gateway also declares the exchange's alternate `<exchange>.unroutable` and its queue.
  local q x
  for q in "$NAME.q" "$NAME.x.unroutable"; do
    rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
  done
  for x in "$NAME.x" "$NAME.x.unroutable"; do
    rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$x\">>), false, <<\"cli\">>)." >/dev/null 2>&1 || true
  done
  if [[ ${KEEP_WORK:-0} == 1 ]]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

scripts/gen-dev-cert.sh "$WORK/certs" >/dev/null
printf '%s' "$SECRET" >"$WORK/github.secret"
SIG=$(write_github_body "$WORK/body.json" "$SECRET")
cat >"$WORK/webhook.lua" <<LUA
local f = assert(io.open("$WORK/body.json", "rb")); local body = f:read("*a"); f:close()
local n, tid = 0, 0
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
function request()
  n = n + 1
  return wrk.format("POST", "/hooks/github", {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "push",
    ["X-GitHub-Delivery"] = "instr-$$-" .. tostring(tid) .. "-" .. tostring(math.random(1, 2^30)) .. "-" .. n,
    ["X-Hub-Signature-256"] = "$SIG",
  }, body)
end
LUA

PORT=$(free_port)
ADMIN=$(free_port)
cat >"$WORK/hookgate.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
request_timeout_ms = 60000
[server.tls]
cert = "$WORK/certs/server.pem"
key = "$WORK/certs/server.key"
[admin]
listen = "127.0.0.1:$ADMIN"
[amqp]
url = "$AMQP_URL"
exchange = "$NAME.x"
[[amqp.queues]]
name = "$NAME.q"
bindings = ["#"]
type = "quorum"
[spool]
path = "$WORK/spool.redb"
[dedupe]
path = "$WORK/dedupe.redb"
[[routes]]
name = "github"
path = "/hooks/github"
kind = "github"
secrets = [{ file = "$WORK/github.secret" }]
TOML
metric_sum() {
  [[ $PROTO == 1 ]] && { echo 0; return; }
  curl -sf --max-time 30 "http://127.0.0.1:$ADMIN/metrics" |
    awk -v n="$1" 'index($1, n) == 1 && index($1, "outcome=\"accepted\"") { s += $2 } END { print s + 0 }'
}

if [[ $PROTO == 1 ]]; then
  CMD=("$BIN" --listen "127.0.0.1:$PORT" --cert "$WORK/certs/server.pem" --key "$WORK/certs/server.key"
    --url "$AMQP_URL" --exchange "$NAME.x" --queue "$NAME.q")
else
  "$BIN" check-config --config "$WORK/hookgate.toml" >/dev/null
  CMD=("$BIN" serve --config "$WORK/hookgate.toml")
fi
taskset -c "${CORE_GATEWAY:-1}" valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes \
  --callgrind-out-file="$WORK/cg.out" "${CMD[@]}" </dev/null >"$WORK/gateway.log" 2>&1 &
PID=$!
for ((i = 0; i < 600; i++)); do
  if [[ $PROTO == 1 ]]; then
    grep -q 'listening' "$WORK/gateway.log" && break
  else
    curl -sf --max-time 5 "http://127.0.0.1:$ADMIN/readyz" >/dev/null 2>&1 && break
  fi
  kill -0 "$PID" 2>/dev/null || { tail -20 "$WORK/gateway.log" >&2; exit 1; }
  sleep 0.2
done
((i < 600)) || { echo "gateway not ready" >&2; exit 1; }

URL="https://127.0.0.1:$PORT/hooks/github"
# One wrk run for both windows: its connections (and their TLS handshakes) are made before
# counting starts. Requests in flight at the two switches (at most CONNS each) are the count's
# only inexactness: +-CONNS in thousands.
wrk -t1 -c "$CONNS" -d "$((WARMUP_S + LOAD_S + 5))s" --timeout 30s -s "$WORK/webhook.lua" "$URL" >"$WORK/wrk.txt" &
WRK=$!
sleep "$WARMUP_S"
before=$(metric_sum 'hookgate_requests_total{')
callgrind_control -i on "$PID" >/dev/null
sleep "$LOAD_S"
callgrind_control -i off "$PID" >/dev/null
after=$(metric_sum 'hookgate_requests_total{')
callgrind_control -d "$PID" >/dev/null
wait "$WRK"
kill -TERM "$PID"
wait "$PID" 2>/dev/null || true
PID=
n=$((after - before))
non2xx=$(awk '/Non-2xx/ { print $NF }' "$WORK/wrk.txt")
[[ -z $non2xx ]] || { echo "wrk saw non-2xx answers: $non2xx" >&2; exit 1; }

# One dump file per thread (cg.out.<dump>-<thread>). The requests are counted exactly as the
# calls of PER_REQUEST inside the counted window (hookgate's GitHub verifier, the prototype's
# message builder: every request of this load passes it once). valgrind's CPU has no SHA extensions, so sha2 runs its software compression here (the
# real CPU has SHA-NI): the count is also given without it, which is what an A/B of anything
# but hashing compares.
python3 - "$WORK" "$n" "$BIN" "$PER_REQUEST" <<'PY'
import glob, os, re, subprocess, sys
work, metric_n, binary, PER_REQUEST = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
paths = sorted(glob.glob(os.path.join(work, "cg.out.*")))
n = 0
for path in paths:
    names, target = {}, None
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"^c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if m:
                if m.group(2):
                    names[m.group(1)] = m.group(2)
                if line.startswith("cfn="):
                    target = names.get(m.group(1), "")
                continue
            if line.startswith("calls=") and target and PER_REQUEST in target.split("(")[0] and "{{closure}}" not in target:
                n += int(line.split()[0][6:])
if n == 0:
    sys.exit("no request counted (no call of " + PER_REQUEST + ")")
print(f"binary={binary} requests={n} (2xx by the metrics: {metric_n})")
total = total_soft = 0
for path in paths:
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    ir = soft = 0
    top = None
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
        if not m:
            continue
        count, where = int(m.group(1).replace(",", "")), m.group(2)
        if "PROGRAM TOTALS" in where:
            ir = count
        elif where.endswith("]") and "sha2::sha256::compress256 [" in where:
            # The function's own line (object file in brackets), inclusive.
            soft = max(soft, count)
        elif top is None and ("lapin::" in where or "redb::" in where or "hyper::" in where):
            top = where.split(":", 1)[-1][:60]
    if ir < n:
        continue
    total += ir
    total_soft += soft
    print(f"thread={os.path.basename(path)} per_request={ir / n:,.0f} without_sha256={(ir - soft) / n:,.0f} first_named={top}")
print(f"total per_request={total / n:,.0f} without_sha256={(total - total_soft) / n:,.0f}")
PY
