#!/usr/bin/env bash
# Performance harness (issue 6; method and results: docs/performance.md).
#
# One command from a fresh checkout:   scripts/bench.sh
# Three runs with medians:             RUNS=3 scripts/bench.sh
# Add a CPU profile of the gateway:    PROFILE=1 scripts/bench.sh
#
# Everything runs on 127.0.0.1, every load is bounded in time, and every process the
# script starts is ended by its PID. Steps, back to back, same body size and concurrency:
#   ceiling   the broker's own limit: examples/confirm_ceiling publishes persistent 1 KiB
#             messages with publisher confirms (mandatory, durable topic exchange), N in
#             flight, for each queue topology in TOPOLOGIES (classic/quorum x 1/4 queues);
#   webhooks  hookgate end to end (release build, TLS): wrk keeps N keep-alive TLS
#             connections posting GitHub-signed 1 KiB JSON, each with a unique
#             X-GitHub-Delivery; only 2xx are counted; req/s, latency p50/p99/p99.9, the
#             gateway's CPU and RSS; afterwards the queue must hold exactly as many
#             messages as there were 2xx answers;
#   latency   hookgate at half of its measured maximum rate (N=64), and the raw publisher
#             paced at the same rate: ack p99 vs raw confirm p99;
#   om        Salesforce Outbound Messages with 10 and 100 Notifications per request
#             (unique Notification Ids), Notifications/s; queue = 2xx x Notifications;
#   spool     the webhooks load with [amqp] pointed at a closed port: every 2xx is an
#             fsynced spool write; afterwards `hookgate spool status` must count the 2xx;
#   idle      gateway RSS with 1,000 and 10,000 idle keep-alive TLS connections
#             (examples/idle_conns);
#   contract  (not in the default STEPS) the message contract's cost to the broker, A/B in
#             one run: the raw publisher with parts of hookgate's message left out, and
#             hookgate against examples/proto_gateway (bare hyper + lapin) publishing
#             hookgate's message or a bare one: scripts/lib/bench-contract.sh (its knobs:
#             CONTRACT_N, CONTRACT_TOPOLOGIES, CONTRACT_VARIANTS, CONTRACT_GATEWAYS,
#             BASE_GATEWAY_BIN for the gateway `hookgate_base` (an earlier build, A/B),
#             BROKER_TIMELINE=1 for 50 ms broker and confirm-latency timelines).
#
# The broker is a PRIVATE RabbitMQ node (own node name, ports, data dir under the work
# dir; the machine's shared broker on 5672 and epmd are not touched), deleted at the end.
#
# Core split (fixed; stated in every result file): the broker node on CORE_BROKER (0), the
# gateway on CORE_GATEWAY (1), the load generator (wrk, confirm_ceiling, idle_conns) on
# CORE_LOAD (1). The raw ceiling thus has the same core for the broker and the same core
# for "everything in front of it" as the gateway runs.
#
# Env: RUNS (1), DURATION (15 s of load per measurement), NS ("64 256"),
#      TOPOLOGIES ("classic:1 classic:4 quorum:1 quorum:4"), GW_TOPOLOGIES ("quorum:1
#      quorum:4": the gateway's queue topologies for webhooks/om/latency), OM_CONNS (8),
#      STEPS ("ceiling webhooks latency om spool idle"), PROFILE (0; 1 = perf record the
#      gateway during an extra webhooks N=64 run; PROFILE_DELAY_MS paces that run as the
#      latency step does), CORE_BROKER/CORE_GATEWAY/CORE_LOAD, AMQP_MAX_CHANNELS (the gateway's
#      amqp.max_channels; unset = its default), AMQP_CHANNELS (the gateway's
#      amqp.channels; unset = its default), GATEWAY_BIN (a hookgate binary to measure instead
#      of the one built from this checkout: A/B runs; only the examples are built then;
#      binaries are looked up under CARGO_TARGET_DIR when it is set),
#      OUT (target/bench/<timestamp>), KEEP_WORK=1 (keep the temp dir), RABBITMQ_BIN_DIR
#      (/usr/lib/rabbitmq/bin), DEDUPE (true; false turns the replay cache off: a diagnostic
#      A/B only, results are quoted with it on), SAMPLE=1 (diagnostic: a 250 ms timeline of the
#      gateway's in-flight requests and published count per wrk run, OUT/timeline.N.txt),
#      SUMMARIZE=DIR (only print the summary of an earlier DIR/results.txt),
#      BENCH_RABBITMQ_CONF (extra rabbitmq.conf lines for the private node, e.g.
#      "raft.wal_max_size_bytes = 67108864": broker tuning A/B runs).
# Needs: cargo, RabbitMQ server + Erlang (the node runs as the current user), openssl,
#        curl, python3, taskset; wrk (Debian package, installed with apt-get if missing);
#        perf (linux-perf) for PROFILE=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RUNS=${RUNS:-1}
DURATION=${DURATION:-15}
NS=${NS:-"64 256"}
TOPOLOGIES=${TOPOLOGIES:-"classic:1 classic:4 quorum:1 quorum:4"}
GW_TOPOLOGIES=${GW_TOPOLOGIES:-"quorum:1 quorum:4"}
OM_CONNS=${OM_CONNS:-8}
STEPS=${STEPS-"ceiling webhooks latency om spool idle"}
PROFILE=${PROFILE:-0}
CORE_BROKER=${CORE_BROKER:-0}
CORE_GATEWAY=${CORE_GATEWAY:-1}
CORE_LOAD=${CORE_LOAD:-1}
GRACE=4   # seconds wrk stays up after the load window so that no request is cut off
RABBITMQ_BIN_DIR=${RABBITMQ_BIN_DIR:-/usr/lib/rabbitmq/bin}
SECRET=bench-github-secret
ORG_ID=00D000000000001EAA
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$ROOT/target/bench/$STAMP}
mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: >"$RESULTS"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" | tee -a "$OUT/bench.log" >&2; }
die() { log "FAILED: $*"; exit 1; }
has_step() { [[ " $STEPS " == *" $1 "* ]]; }
emit() { echo "$*" >>"$RESULTS"; log "result: $*"; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

WORK=$(mktemp -d /tmp/hookgate-bench.XXXXXX)
NODE_DIR=$WORK/rabbit
mkdir -p "$NODE_DIR"
GATEWAY_PID= NODE_SCRIPT_PID= CHILD_PID=

# --- process helpers (by PID only) and the private node: scripts/lib/private-rabbit.sh ---

# shellcheck source=lib/private-rabbit.sh
source "$ROOT/scripts/lib/private-rabbit.sh"
# shellcheck source=lib/bench-contract.sh
source "$ROOT/scripts/lib/bench-contract.sh"
# shellcheck source=lib/webhook-body.sh
source "$ROOT/scripts/lib/webhook-body.sh"

stop_gateway() {
  [[ -n $GATEWAY_PID ]] || return 0
  if kill -0 "$GATEWAY_PID" 2>/dev/null; then
    kill -TERM "$GATEWAY_PID"
    wait_gone "$GATEWAY_PID" 20 || { kill -KILL "$GATEWAY_PID" 2>/dev/null; wait_gone "$GATEWAY_PID" 5; }
  fi
  wait "$GATEWAY_PID" 2>/dev/null || true
  GATEWAY_PID=
}

cleanup() {
  local rc=$?
  set +e
  [[ -n $CHILD_PID ]] && kill -TERM "$CHILD_PID" 2>/dev/null && wait_gone "$CHILD_PID" 5
  stop_gateway
  stop_node 30
  remove_work $rc
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- summary (markdown: medians over RUNS, ratios) ------------------------------------------
summarize() { # summarize RESULTS MACHINE: markdown tables of medians and ratios
  python3 - "$1" "$2" <<'PY'
import re, statistics, sys
from collections import defaultdict

rows = []
for line in open(sys.argv[1]):
    kind, *kv = line.split()
    d = {"kind": kind}
    for item in kv:
        k, _, v = item.partition("=")
        d[k] = v
    rows.append(d)

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None

def med(kind, key, field, **match):
    vals = [num(r.get(field)) for r in rows if r["kind"] == kind
            and all(r.get(k) == v for k, v in match.items())]
    vals = [v for v in vals if v is not None]
    return (statistics.median(vals), len(vals)) if vals else (None, 0)

def fmt(v, p=1):
    return "-" if v is None else f"{v:,.{p}f}"

def per_run(kind, field, ref_kind, ref_field, match, ref_match, diff=False):
    """Median over runs of (kind.field / ref_kind.ref_field) taken within each run."""
    out = []
    for run in sorted({r["run"] for r in rows}):
        a = [num(r.get(field)) for r in rows if r["kind"] == kind and r["run"] == run
             and all(r.get(k) == v for k, v in match.items())]
        b = [num(r.get(ref_field)) for r in rows if r["kind"] == ref_kind and r["run"] == run
             and all(r.get(k) == v for k, v in ref_match.items())]
        if a and b and a[0] is not None and b[0]:
            out.append(a[0] - b[0] if diff else a[0] / b[0])
    return statistics.median(out) if out else None

print(open(sys.argv[2]).read())
ns = sorted({r["n"] for r in rows if r["kind"] == "ceiling"}, key=int)
topos = sorted({r["topo"] for r in rows if r["kind"] == "ceiling"})
print("## Raw confirm ceiling (medians)\n")
print("| topology | N | msgs/s | confirm p50 ms | p99 ms | runs |")
print("|---|---|---|---|---|---|")
for t in topos:
    for n in ns:
        r, c = med("ceiling", None, "msgs_per_s", topo=t, n=n, rate_target="max")
        p50, _ = med("ceiling", None, "p50_ms", topo=t, n=n, rate_target="max")
        p99, _ = med("ceiling", None, "p99_ms", topo=t, n=n, rate_target="max")
        print(f"| {t} | {n} | {fmt(r)} | {fmt(p50, 2)} | {fmt(p99, 2)} | {c} |")
print()
gw_topos = sorted({r["topo"] for r in rows if r["kind"] == "webhooks"})
print("## hookgate webhooks over TLS (medians) and ratio to the raw ceiling, same topology and N\n")
print("| topology | N | 2xx req/s | ratio of medians | median of per-run ratios (target >= 0.6) | p50 ms | p99 ms | p99.9 ms | gw CPU % | gw CPU us/req | RSS MiB | queue = 2xx | runs |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for t in gw_topos:
    for n in sorted({r["n"] for r in rows if r["kind"] == "webhooks"}, key=int):
        r, c = med("webhooks", None, "req_per_s", topo=t, n=n)
        raw, _ = med("ceiling", None, "msgs_per_s", topo=t, n=n, rate_target="max")
        ratio = None if (r is None or not raw) else r / raw
        ok = all(x.get("queue_matches_2xx") == "yes" for x in rows if x["kind"] == "webhooks" and x["topo"] == t and x["n"] == n)
        vals = [fmt(med("webhooks", None, f, topo=t, n=n)[0], 2) for f in ("p50_ms", "p99_ms", "p999_ms")]
        cpu, _ = med("webhooks", None, "gw_cpu_pct", topo=t, n=n)
        rss, _ = med("webhooks", None, "rss_mib", topo=t, n=n)
        us, _ = med("webhooks", None, "gw_us_per_req", topo=t, n=n)
        pr = per_run("webhooks", "req_per_s", "ceiling", "msgs_per_s", {"topo": t, "n": n}, {"topo": t, "n": n, "rate_target": "max"})
        print(f"| {t} | {n} | {fmt(r)} | {fmt(ratio, 2)} | {fmt(pr, 2)} | {' | '.join(vals)} | {fmt(cpu, 0)} | {fmt(us, 0)} | {fmt(rss, 0)} | {'yes' if ok else 'NO'} | {c} |")
print()
lg = [r for r in rows if r["kind"] == "latency_gw"]
lr = [r for r in rows if r["kind"] == "latency_raw"]
if lg and lr:
    g99 = statistics.median(float(r["p99_ms"]) for r in lg)
    r99 = statistics.median(float(r["p99_ms"]) for r in lr)
    grate = statistics.median(float(r["req_per_s"]) for r in lg)
    rrate = statistics.median(float(r["msgs_per_s"]) for r in lr)
    print("## Latency at half of hookgate's maximum rate (N=64)\n")
    d = per_run("latency_gw", "p99_ms", "latency_raw", "p99_ms", {}, {}, diff=True)
    print(f"hookgate {grate:,.0f} req/s: ack p99 {g99:.2f} ms; raw publisher paced at {rrate:,.0f} msgs/s: "
          f"confirm p99 {r99:.2f} ms; difference of medians {g99 - r99:+.2f} ms, median of per-run "
          f"differences {fmt(d, 2)} ms (target <= +10 ms)\n")
    for r in sorted(lg, key=lambda r: int(r["run"])):
        raw = next((x for x in lr if x["run"] == r["run"]), {})
        print(f"- run {r['run']} (load {r.get('load1')}): hookgate {float(r['req_per_s']):,.0f} req/s p99 {r['p99_ms']} ms "
              f"(its own publish-to-confirm p99 <= {r.get('gw_confirm_p99_le_ms', '-')} ms), "
              f"raw p99 {raw.get('p99_ms', '-')} ms")
    print()
om = [r for r in rows if r["kind"] == "om"]
if om:
    print("## Outbound Messages (medians)\n")
    print("| topology | Notifications/request | conns | Notifications/s | ratio to the best raw msgs/s (medians) | median of per-run ratios to the run's best raw msgs/s (target >= 0.8 at 100) | p99 ms | queue = 2xx x K | runs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for t in sorted({r["topo"] for r in om}):
        best = max((med("ceiling", None, "msgs_per_s", topo=t, n=n, rate_target="max")[0] or 0) for n in ns) if ns else 0
        for k in ("10", "100"):
            v, c = med("om", None, "notif_per_s", topo=t, notifications=k)
            p99, _ = med("om", None, "p99_ms", topo=t, notifications=k)
            ok = all(x.get("queue_matches_2xx") == "yes" for x in om if x["topo"] == t and x["notifications"] == k)
            conns = next((x["conns"] for x in om if x["topo"] == t), "-")
            prs = []
            for run in sorted({r["run"] for r in om}):
                a = [num(r["notif_per_s"]) for r in om if r["run"] == run and r["topo"] == t and r["notifications"] == k]
                b = [num(r["msgs_per_s"]) for r in rows if r["kind"] == "ceiling" and r["run"] == run
                     and r["topo"] == t and r.get("rate_target") == "max"]
                if a and b and max(b):
                    prs.append(a[0] / max(b))
            pr = statistics.median(prs) if prs else None
            print(f"| {t} | {k} | {conns} | {fmt(v)} | {fmt(None if not best or v is None else v / best, 2)} | {fmt(pr, 2)} | {fmt(p99, 2)} | {'yes' if ok else 'NO'} | {c} |")
    print()
sp = [r for r in rows if r["kind"] == "spool"]
if sp:
    print("## Spool (broker unreachable) vs normal, same N (medians)\n")
    print("| N | spooled 2xx req/s | normal req/s (first gateway topology) | ratio of medians | median of per-run ratios (target >= 0.5) | p99 ms | gw RSS MiB | spool depth = 2xx | runs |")
    print("|---|---|---|---|---|---|---|---|---|")
    first = gw_topos[0] if gw_topos else None
    for n in sorted({r["n"] for r in sp}, key=int):
        v, c = med("spool", None, "req_per_s", n=n)
        p99, _ = med("spool", None, "p99_ms", n=n)
        norm, _ = med("webhooks", None, "req_per_s", topo=first, n=n) if first else (None, 0)
        ok = all(x.get("spool_matches_2xx") == "yes" for x in sp if x["n"] == n)
        pr = per_run("spool", "req_per_s", "webhooks", "req_per_s", {"n": n}, {"topo": first, "n": n}) if first else None
        rss, _ = med("spool", None, "rss_mib", n=n)
        print(f"| {n} | {fmt(v)} | {fmt(norm)} | {fmt(None if not norm or v is None else v / norm, 2)} | {fmt(pr, 2)} | {fmt(p99, 2)} | {fmt(rss, 0)} | {'yes' if ok else 'NO'} | {c} |")
    print()
idle = [r for r in rows if r["kind"] == "idle"]
if idle:
    print("## RSS with idle keep-alive TLS connections (medians)\n")
    print("| connections | baseline RSS MiB | RSS MiB held | target MiB | KiB per connection | open when sampled | still open after hold | runs |")
    print("|---|---|---|---|---|---|---|---|")
    for cnum, mode in sorted({(r["connections"], r.get("mode", "tls")) for r in idle}, key=lambda x: (int(x[0]), x[1] != "tls")):
        sel = {"connections": cnum}
        if any("mode" in r for r in idle):
            sel["mode"] = mode
        b, c = med("idle", None, "baseline_rss_mib", **sel)
        h, _ = med("idle", None, "rss_mib", **sel)
        k, _ = med("idle", None, "kib_per_conn", **sel)
        o, _ = med("idle", None, "open_at_sample", **sel)
        s, _ = med("idle", None, "still_open", **sel)
        target = (64 if cnum == "1000" else 256) if mode == "tls" else "-"
        print(f"| {cnum} {mode} | {fmt(b, 0)} | {fmt(h, 0)} | {target} | {fmt(k, 0)} | {fmt(o, 0)} | {fmt(s, 0)} | {c} |")
    print()
print("load average (1 min) at the start of each measurement:",
      " ".join(sorted({r.get("load1", "?") for r in rows}, key=lambda x: float(x) if num(x) is not None else 0)))
PY
}

# SUMMARIZE=DIR: only (re)print the summary of an earlier run's DIR/results.txt.
if [[ -n ${SUMMARIZE:-} ]]; then
  summarize "$SUMMARIZE/results.txt" "$SUMMARIZE/machine.txt"
  contract_summary "$SUMMARIZE/results.txt"
  trap - EXIT
  rm -rf "$WORK" "$OUT"
  exit 0
fi

# --- 1. tools and build -------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  log "installing wrk (Debian package)"
  if [[ $(id -u) == 0 ]]; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null
  fi
fi
command -v wrk >/dev/null || die "wrk is not installed"
if [[ $PROFILE == 1 ]] && ! command -v perf >/dev/null; then
  log "installing perf (Debian package linux-perf)"
  apt-get install -y -qq linux-perf >/dev/null || log "perf not installable; the profile step will be skipped"
fi
[[ -x $RABBITMQ_BIN_DIR/rabbitmq-server ]] || die "no $RABBITMQ_BIN_DIR/rabbitmq-server (set RABBITMQ_BIN_DIR)"
for t in taskset openssl curl python3; do command -v $t >/dev/null || die "$t is needed"; done

# With GATEWAY_BIN set, only the examples are built (an A/B run measures a binary built elsewhere).
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [[ -n ${GATEWAY_BIN:-} ]]; then
  log "building (release): examples confirm_ceiling and idle_conns (gateway: $GATEWAY_BIN)"
  cargo build --release --locked --example confirm_ceiling --example idle_conns --example proto_gateway 2>&1 |
    tail -3 | tee -a "$OUT/bench.log" >&2
else
  log "building (release): hookgate, examples confirm_ceiling and idle_conns"
  cargo build --release --locked --bin hookgate --example confirm_ceiling --example idle_conns \
    --example proto_gateway 2>&1 |
    tail -3 | tee -a "$OUT/bench.log" >&2
fi
BIN=${GATEWAY_BIN:-$TARGET/release/hookgate}
CEILING=$TARGET/release/examples/confirm_ceiling
IDLE=$TARGET/release/examples/idle_conns
PROTO=$TARGET/release/examples/proto_gateway

read -r AMQP_PORT DIST_PORT LISTEN_PORT ADMIN_PORT CLOSED_PORT < <(free_ports 5)
AMQP_URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f"

# --- 2. private RabbitMQ node, pinned ---------------------------------------------------------
NODE=hgbench-$$@localhost
node_files "private bench node"
# BENCH_RABBITMQ_CONF: extra rabbitmq.conf lines for the private node (broker tuning A/B runs).
[[ -n ${BENCH_RABBITMQ_CONF:-} ]] && printf '%s\n' "$BENCH_RABBITMQ_CONF" >>"$NODE_DIR/rabbitmq.conf"
log "starting private RabbitMQ node $NODE on 127.0.0.1:$AMQP_PORT, pinned to CPU $CORE_BROKER"
start_node taskset -c "$CORE_BROKER"
await_node 120
BEAM=$(beam_pid) || die "no beam pid"
log "node up, beam pid $BEAM (affinity $(taskset -pc "$BEAM" | awk '{print $NF}'))"

# --- 3. certificates, bodies, wrk scripts ------------------------------------------------------
scripts/gen-dev-cert.sh "$WORK/certs" >/dev/null
printf '%s' "$SECRET" >"$WORK/github.secret"

# A 1 KiB GitHub-like JSON body and its X-Hub-Signature-256.
SIG=$(write_github_body "$WORK/body.json" "$SECRET")

# Outbound Message templates with K Notifications; @@ID@@ marks each Notification Id.
for k in 10 100; do
  python3 - "$ROOT/fixtures/salesforce/om_100.xml" "$WORK/om_$k.xml" "$k" <<'PY'
import re, sys
src, dst, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(src, encoding="utf-8").read()
first = text.index("<Notification>")
last = text.rindex("</Notification>") + len("</Notification>")
blocks = re.findall(r"<Notification>.*?</Notification>", text[first:last], re.S)
assert len(blocks) >= k
body = text[:first] + "\n   ".join(blocks[:k]) + text[last:]
body = re.sub(r"<Id>[0-9A-Za-z]{15,18}</Id>", "<Id>@@ID@@</Id>", body)
assert body.count("@@ID@@") == k, body.count("@@ID@@")
open(dst, "w", encoding="utf-8").write(body)
PY
done

# Shared Lua: a monotonic clock through LuaJIT's FFI, the soft stop (after SOFT seconds every
# connection that finishes its request waits an hour, so wrk's hard stop GRACE seconds later
# cuts no request off and the 2xx count is exact), 2xx counting and the summary line.
# No response() hook: wrk then builds a Lua table of every response's headers and body
# (dropping it and formatting the request once, below, cut wrk's CPU per request by ~15 %
# together, on the core it shares with the gateway). The 2xx count is
# wrk's completed responses minus those with status >= 400 (wrk's own status-error count;
# hookgate sends no 1xx/3xx on these routes, and the queue-depth check afterwards must equal
# it); the end of the load window is the last delay() call, which wrk makes right after each
# response.
cat >"$WORK/common.lua" <<'LUA'
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } hgb_timespec;
int clock_gettime(int clk, hgb_timespec *tp);
]]
local tsbuf = ffi.new("hgb_timespec")
function now()
  ffi.C.clock_gettime(1, tsbuf)
  return tonumber(tsbuf.tv_sec) + tonumber(tsbuf.tv_nsec) * 1e-9
end
local threads = {}
local next_tid = 1
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end
t0, last, soft, delay_ms = 0, 0, 0, 0
function delay()
  last = now()
  if now() - t0 >= soft then return 3600000 end
  if delay_ms > 0 then return math.random(0, 2 * delay_ms) end
  return 0
end
function done(summary, latency, requests)
  local first, lastt = nil, 0
  for _, t in ipairs(threads) do
    local a, b = t:get("t0"), t:get("last")
    if first == nil or a < first then first = a end
    if b > lastt then lastt = b end
  end
  local e = summary.errors
  local badt = e.status
  local okt = summary.requests - badt
  local secs = lastt - first
  io.write(string.format(
    "wrk ok=%d non2xx=%d completed=%d secs=%.3f req_per_s=%.1f connect_err=%d read_err=%d write_err=%d timeout_err=%d " ..
    "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f\n",
    okt, badt, summary.requests, secs, okt / secs, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000))
end
LUA

# Webhooks: args PATH BODY_FILE SIGNATURE ID_PREFIX SOFT_S DELAY_MS EVENTS
cat >"$WORK/webhook.lua" <<LUA
dofile("$WORK/common.lua")
local path, body, sig, prefix, events
local n = 0
function init(args)
  path = args[1]
  local f = assert(io.open(args[2], "rb")); body = f:read("*a"); f:close()
  sig = args[3]
  prefix = args[4] .. "-" .. tostring(tid)
  soft = tonumber(args[5]); delay_ms = tonumber(args[6]); events = tonumber(args[7])
  t0 = now(); last = t0
end
-- The request is formatted once with two markers; each call splices in the event name and a
-- unique delivery id (instead of a wrk.format call per request).
local head, mid, tail, ev_first
function request()
  n = n + 1
  if head == nil then
    local t = wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "GitHub-Hookshot/bench",
      ["X-GitHub-Event"] = "@@EV@@",
      ["X-GitHub-Delivery"] = "@@ID@@",
      ["X-Hub-Signature-256"] = sig,
    }, body)
    local a = string.find(t, "@@EV@@", 1, true)
    local b = string.find(t, "@@ID@@", 1, true)
    ev_first = a < b
    local x, y = math.min(a, b), math.max(a, b)
    head, mid, tail = string.sub(t, 1, x - 1), string.sub(t, x + 6, y - 1), string.sub(t, y + 6)
  end
  local ev = "push"
  if events > 1 then ev = "e" .. (n % events) end
  local id = prefix .. "-" .. n
  if ev_first then return head .. ev .. mid .. id .. tail end
  return head .. id .. mid .. ev .. tail
end
LUA

# Outbound Messages: args PATH TEMPLATE_FILE ID_TAG(5 alnum) SOFT_S DELAY_MS
cat >"$WORK/om.lua" <<LUA
dofile("$WORK/common.lua")
local path, parts, tag
local n = 0
function init(args)
  path = args[1]
  local f = assert(io.open(args[2], "rb")); local text = f:read("*a"); f:close()
  parts = {}
  local from = 1
  while true do
    local a, b = string.find(text, "@@ID@@", from, true)
    if not a then break end
    table.insert(parts, string.sub(text, from, a - 1))
    from = b + 1
  end
  table.insert(parts, string.sub(text, from))
  tag = args[3] .. tostring(tid % 10)
  soft = tonumber(args[4]); delay_ms = tonumber(args[5])
  t0 = now(); last = t0
end
function request()
  n = n + 1
  local buf = {}
  for i = 1, #parts - 1 do
    buf[#buf + 1] = parts[i]
    buf[#buf + 1] = string.format("%s%09d%03d", tag, n, i)
  end
  buf[#buf + 1] = parts[#parts]
  return wrk.format("POST", path, {
    ["Content-Type"] = "text/xml; charset=utf-8",
    ["SOAPAction"] = '""',
  }, table.concat(buf))
end
LUA

# perf script -> folded stacks (for any flame graph tool) and a summary: share of samples
# per thread, inclusive share per subsystem (any frame matches), self share per leaf symbol.
cat >"$WORK/fold.py" <<'PY'
import collections, re, sys
folded_out, summary_out = sys.argv[1], sys.argv[2]
stacks = collections.Counter()
comm, frames = None, []
def flush():
    if comm is not None and frames:
        stacks[(comm, tuple(reversed(frames)))] += 1
for line in sys.stdin:
    if not line.strip():
        flush(); comm, frames = None, []; continue
    if not line[0].isspace():
        comm = re.split(r"\s+\d+(/\d+)?\s+", line.strip(), maxsplit=1)[0].replace(" ", "_")
        continue
    parts = line.strip().split(None, 1)
    rest = parts[1] if len(parts) > 1 else "?"
    m = re.match(r"(.*?)(\+0x[0-9a-f]+)?\s+\((.*)\)$", rest)
    sym, dso = (m.group(1), m.group(3)) if m else (rest, "")
    if "kernel" in dso or dso.startswith("[k"):
        sym = "[k] " + sym
    frames.append(sym)
flush()
total = sum(stacks.values()) or 1
with open(folded_out, "w") as f:
    for (c, st), n in stacks.most_common():
        f.write(c + ";" + ";".join(st) + f" {n}\n")
cats = [
    ("thread hand-offs (futex wake/park: spawn_blocking pool, lapin I/O thread, dedupe writer)",
     r"futex|thread_parker|Parker|::park|::unpark|blocking::pool|sched_yield|event_listener|Condvar"),
    ("replay cache (hookgate::dedupe, redb)", r"hookgate::dedupe|redb::"),
    ("spool (hookgate::spool)", r"hookgate::spool"),
    ("signature verify (hookgate::verify, hmac, sha2)", r"hookgate::verify|^hmac::|^sha2::|sha256_block|_mm_sha256"),
    ("envelope / JSON check (hookgate::envelope, serde_json)", r"hookgate::envelope|serde_json::"),
    ("metrics (prometheus-client, hookgate::telemetry)", r"prometheus_client|hookgate::telemetry"),
    ("tracing spans / log filter", r"tracing_core::|tracing_subscriber::|^tracing::|tower_http::trace"),
    ("request-id, catch-panic, other tower layers", r"tower_http::|^tower::|uuid::"),
    ("AMQP publish + confirms (lapin, amq-protocol, hookgate::publish) incl. its socket I/O",
     r"lapin::|amq_protocol|hookgate::publish|hookgate::outbox|pinky_swear|async_rs|flume::"),
    ("TLS (rustls, tokio-rustls, ring AES-GCM) incl. its socket I/O",
     r"rustls::|tokio_rustls::|ring::|ring_core|aes_gcm|aes_hw|gcm_|ecp_nistz|ChaCha"),
    ("HTTP server (hyper, hyper-util, h2, http)", r"hyper::|hyper_util::|^h2::|^http::|httparse::"),
    ("request handler (hookgate::server)", r"hookgate::server"),
    ("accept loop / other hookgate", r"hookgate::"),
    ("tokio scheduler, timers, epoll", r"^tokio::(runtime|time|sync|task)|epoll_wait"),
]
def category(stack):
    for fr in reversed(stack):
        if fr.startswith("[k]"):
            continue
        for name, rx in compiled:
            if rx.search(fr):
                return name
    return "other (libc, unresolved)"
compiled = [(n, re.compile(r)) for n, r in cats]
with open(summary_out, "w") as f:
    f.write(f"samples {total}\n\n## by thread\n")
    by_comm = collections.Counter()
    for (c, _), n in stacks.items():
        by_comm[c] += n
    for c, n in by_comm.most_common(10):
        f.write(f"{100 * n / total:6.1f}%  {c}\n")
    f.write("\n## where the time goes: each sample goes to the innermost known subsystem in its stack\n"
            "## (kernel and libc frames count for the code that called them); kernel share in brackets\n")
    part, kern = collections.Counter(), collections.Counter()
    for (_, st), n in stacks.items():
        c = category(st)
        part[c] += n
        if st[-1].startswith("[k]"):
            kern[c] += n
    for c, n in part.most_common():
        f.write(f"{100 * n / total:6.1f}%  {c}  [kernel {100 * kern[c] / total:.1f}%]\n")
    f.write("\n## thread hand-offs by the code above them (thread, then the first other subsystem or frame)\n")
    hand = collections.Counter()
    for (c, st), n in stacks.items():
        if category(st) != cats[0][0]:
            continue
        users = [fr for fr in reversed(st) if not fr.startswith("[k]")]
        rest = [fr for fr in users if not compiled[0][1].search(fr)]
        who = next((name for fr in rest for name, rx in compiled[1:] if rx.search(fr)), None)
        if who is None or who.startswith("tokio"):
            blocking = any("blocking::pool" in fr or "spawn_blocking" in fr for fr in st)
            who = "tokio blocking pool (spawn_blocking)" if blocking else (rest[0][:90] if rest else "?")
        hand[(c, who)] += n
    for (c, who), n in hand.most_common(12):
        f.write(f"{100 * n / total:6.1f}%  {c}: {who}\n")
    ks = sum(n for (_, st), n in stacks.items() if st[-1].startswith("[k]"))
    sw = sum(n for (_, st), n in stacks.items() if "finish_task_switch" in st[-1])
    f.write(f"\nkernel (leaf in the kernel) {100 * ks / total:.1f}%, of which finish_task_switch "
            f"(context switches; with the cpu-clock event the switch-in absorbs pending ticks) {100 * sw / total:.1f}%\n")
    f.write("\n## self share by leaf symbol (top 40)\n")
    leaf = collections.Counter()
    for (_, st), n in stacks.items():
        leaf[st[-1][:160]] += n
    for s, n in leaf.most_common(40):
        f.write(f"{100 * n / total:6.1f}%  {s}\n")
PY

# --- 4. gateway helpers -------------------------------------------------------------------------
SEQ=0
# write_config NAME AMQP_URL TOPOLOGY(type:count): writes a gateway config with a unique
# exchange and queue names; sets CFG (its path), X_NAME and Q_NAMES. Not in a subshell.
write_config() {
  local name=$1 url=$2 type=${3%%:*} count=${3##*:} j
  SEQ=$((SEQ + 1))
  X_NAME="hgbench.$$.$SEQ.x"
  Q_NAMES=()
  local cfg=$WORK/$name.toml
  CFG=$cfg
  cat >"$cfg" <<TOML
[server]
listen = "127.0.0.1:$LISTEN_PORT"
max_connections = 20000
max_connections_per_ip = 20000
shutdown_grace_ms = 5000
${EXTRA_SERVER:-}
[server.tls]
cert = "$WORK/certs/server.pem"
key = "$WORK/certs/server.key"
[admin]
listen = "127.0.0.1:$ADMIN_PORT"
[amqp]
url = "$url"
exchange = "$X_NAME"
${AMQP_CHANNELS:+channels = $AMQP_CHANNELS}
${AMQP_MAX_CHANNELS:+max_channels = $AMQP_MAX_CHANNELS}
${EXTRA_AMQP:-}
TOML
  for ((j = 0; j < count; j++)); do
    local q="hgbench.$$.$SEQ.q$j" bindings
    if ((count == 1)); then bindings='["#"]'
    elif ((j == 0)); then bindings='["github.e0", "salesforce.#"]'
    else bindings="[\"github.e$j\"]"; fi
    Q_NAMES+=("$q")
    printf '[[amqp.queues]]\nname = "%s"\nbindings = %s\ntype = "%s"\n' "$q" "$bindings" "$type" >>"$cfg"
  done
  cat >>"$cfg" <<TOML
[spool]
path = "$WORK/$name.spool.redb"
max_messages = 20000000
max_bytes = 17179869184
[dedupe]
enabled = ${DEDUPE:-true}
path = "$WORK/$name.dedupe.redb"
[[routes]]
name = "github"
path = "/hooks/github"
kind = "github"
secrets = [{ file = "$WORK/github.secret" }]
[[routes]]
name = "salesforce"
path = "/salesforce/outbound"
kind = "salesforce_om"
org_ids = ["$ORG_ID"]
TOML
  "$BIN" check-config --config "$cfg" >/dev/null || die "config $cfg invalid"
}

metrics() { curl -sf --max-time 2 "http://127.0.0.1:$ADMIN_PORT/metrics" || true; }
metric() { metrics | awk -v n="$1" '$1 == n { print $2; exit }'; }
# outcome ROUTE OUTCOME: hookgate_requests_total for one route and outcome (0 if absent).
outcome() {
  metrics | awk -v r="route=\"$1\"" -v o="outcome=\"$2\"" \
    '$1 ~ /^hookgate_requests_total\{/ && index($1, r) && index($1, o) { s += $2 } END { print s + 0 }'
}

# confirm_p99: the upper bound (ms) of the hookgate_confirm_latency_seconds bucket holding the
# 99th percentile (the gateway's own publish-to-confirm time, without HTTP/TLS/queueing).
confirm_p99() {
  metrics | awk '
    /^hookgate_confirm_latency_seconds_bucket\{/ {
      match($0, /le="[^"]+"/); le = substr($0, RSTART + 4, RLENGTH - 5); n++; les[n] = le; cnt[n] = $NF
    }
    END {
      if (n == 0 || cnt[n] == 0) { print "-"; exit }
      for (i = 1; i <= n; i++) if (cnt[i] >= 0.99 * cnt[n]) { print (les[i] == "+Inf" ? "inf" : les[i] * 1000); exit }
    }'
}

# start_gateway CONFIG [wait_broker=1]
start_gateway() {
  local cfg=$1 want_broker=${2:-1} i
  taskset -c "$CORE_GATEWAY" "$BIN" serve --config "$cfg" </dev/null >>"$WORK/gateway.log" 2>&1 &
  GATEWAY_PID=$!
  for ((i = 0; i < 150; i++)); do
    curl -sf --max-time 1 "http://127.0.0.1:$ADMIN_PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$GATEWAY_PID" 2>/dev/null || { tail -5 "$WORK/gateway.log"; die "hookgate exited"; }
    sleep 0.1
  done
  if [[ $want_broker == 1 ]]; then
    for ((i = 0; i < 150; i++)); do [[ $(metric hookgate_broker_connected) == 1 ]] && return 0; sleep 0.1; done
    die "hookgate did not connect to the broker"
  fi
}

# threads_snapshot PID: one line per thread: "tid name cpu_ticks voluntary nonvoluntary".
threads_snapshot() {
  local t
  for t in /proc/"$1"/task/*; do
    awk -v tid="${t##*/}" -v name="$(tr ' ' _ <"$t/comm" 2>/dev/null)" '
      FNR == NR { ticks = $14 + $15; next }
      $1 == "voluntary_ctxt_switches:" { v = $2 }
      $1 == "nonvoluntary_ctxt_switches:" { n = $2 }
      END { print tid, name, ticks + 0, v + 0, n + 0 }' "$t/stat" "$t/status" 2>/dev/null
  done
}

# thread_split BEFORE AFTER OK: per thread name (threads of one name summed), CPU µs and
# context switches (voluntary/nonvoluntary) per 2xx between two threads_snapshot outputs.
thread_split() {
  awk -v hz="$HZ" -v ok="$3" '
    FNR == NR { c[$1] = $3; v[$1] = $4; n[$1] = $5; next }
    { name[$2]; dc[$2] += $3 - c[$1]; dv[$2] += $4 - v[$1]; dn[$2] += $5 - n[$1]; k[$2]++ }
    END { if (ok < 1) ok = 1
      for (t in name) printf "thread=%s count=%d cpu_us_per_req=%.1f vol_ctxsw_per_req=%.2f nonvol_ctxsw_per_req=%.2f\n",
        t, k[t], 1e6 * dc[t] / hz / ok, dv[t] / ok, dn[t] / ok }' <(echo "$1") <(echo "$2") | sort -t= -k4 -g -r
}

# ctx_switches PID: voluntary + involuntary context switches of all the process's threads.
ctx_switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '$1 == "voluntary_ctxt_switches:" || $1 == "nonvoluntary_ctxt_switches:" { s += $2 } END { print s + 0 }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# cpu_snapshot: "cpuN:busy:total:steal" ticks per CPU from /proc/stat (busy = user+nice+system+
# irq+softirq; steal = time the hypervisor gave this virtual CPU to someone else).
cpu_snapshot() { awk '$1 ~ /^cpu[0-9]+$/ { idle = $5 + $6; t = 0; for (i = 2; i <= 8; i++) t += $i; printf "%s:%d:%d:%d ", $1, t - idle, t, $9 }' /proc/stat; }
# cpu_busy_pct "BEFORE" "AFTER" WINDOW_S [GW_TICKS OK] -> cpuN_busy_pct=NN ... cpuN_steal_pct=NN ...
# and, given the gateway's CPU ticks and the 2xx count, load_core_other_us_per_req: the load
# generator's core's busy time per 2xx minus the gateway's (wrk and the kernel work it causes,
# when the gateway shares that core).
cpu_busy_pct() {
  python3 - "$1" "$2" "$3" "$HZ" "${4:-0}" "${5:-0}" "cpu$CORE_LOAD" <<'PY'
import sys
b = {k: [int(v) for v in rest] for k, *rest in (s.split(":") for s in sys.argv[1].split())}
a = {k: [int(v) for v in rest] for k, *rest in (s.split(":") for s in sys.argv[2].split())}
w, hz = float(sys.argv[3]), float(sys.argv[4])
gw, ok, core = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
out = [f"{k}_busy_pct={min(100, 100 * (a[k][0] - b[k][0]) / hz / w):.0f}" for k in sorted(a)]
out += [f"{k}_steal_pct={min(100, 100 * (a[k][2] - b[k][2]) / hz / w):.0f}" for k in sorted(a)]
if ok > 0 and core in a:
    out.append(f"load_core_other_us_per_req={1e6 * (a[core][0] - b[core][0] - gw) / hz / ok:.1f}")
print(" ".join(out))
PY
}
HZ=$(getconf CLK_TCK)

# run_wrk CONNS LUA ARGS...: runs wrk on CORE_LOAD for DURATION+GRACE s around the gateway,
# measuring the gateway's and the broker's CPU; prints "wrk ... gw_cpu_pct=.. beam_cpu_pct=..
# rss_mib=.. hwm_mib=.. cpuN_busy_pct=..".
run_wrk() {
  local conns=$1 lua=$2; shift 2
  local g0 b0 s0 t0 g1 b1 s1 t1 line
  local x0 x1 th0 th1
  local sampler=
  if [[ ${SAMPLE:-0} == 1 ]]; then
    # Timeline (diagnostic): every 250 ms, seconds since start, requests inside the gateway,
    # messages confirmed so far.
    (
      local s0t
      s0t=$(date +%s.%N)
      while kill -0 "$GATEWAY_PID" 2>/dev/null; do
        metrics | awk -v t="$(date +%s.%N)" -v s="$s0t" '
          $1 == "hookgate_in_flight_requests" { f = $2 }
          $1 == "hookgate_messages_published_total" { p = $2 }
          END { printf "%.2f in_flight=%s published=%s\n", t - s, f, p }'
        sleep 0.25
      done
    ) >>"$OUT/timeline.$SEQ.txt" 2>/dev/null &
    sampler=$!
  fi
  g0=$(cpu_ticks "$GATEWAY_PID"); b0=$(cpu_ticks "$BEAM"); s0=$(cpu_snapshot); x0=$(ctx_switches "$GATEWAY_PID"); th0=$(threads_snapshot "$GATEWAY_PID"); t0=$(date +%s.%N)
  line=$(taskset -c "$CORE_LOAD" wrk -t1 -c"$conns" -d"$((DURATION + GRACE))s" --timeout 10s \
    -s "$lua" "https://127.0.0.1:$LISTEN_PORT$WRK_PATH" -- "$@" 2>&1 | tee -a "$WORK/wrk.out" | grep '^wrk ' || true)
  t1=$(date +%s.%N); g1=$(cpu_ticks "$GATEWAY_PID"); b1=$(cpu_ticks "$BEAM"); s1=$(cpu_snapshot); x1=$(ctx_switches "$GATEWAY_PID"); th1=$(threads_snapshot "$GATEWAY_PID")
  [[ -n $sampler ]] && { kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; }
  [[ -n $line ]] || { tail -20 "$WORK/wrk.out"; die "wrk printed no summary"; }
  # CPU over the whole wrk run (load window + the idle grace), as % of one core.
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  local win
  win=$(sed -E 's/.* secs=([0-9.]+).*/\1/' <<<"$line")
  # CPU shares are over the load window (the grace after it is idle); gw_us_per_req is the
  # gateway's CPU time per 2xx answer, whatever its core had to share.
  local ok
  ok=$(sed -E 's/.* ok=([0-9]+).*/\1/' <<<" $line")
  # Where the gateway's CPU and context switches go, per thread (diagnostic file).
  thread_split "$th0" "$th1" "$ok" >"$OUT/threads.$SEQ.txt"
  echo "$line $(awk -v g=$((g1 - g0)) -v b=$((b1 - b0)) -v hz="$HZ" -v w="$win" -v ok="$ok" -v x=$((x1 - x0)) \
    'BEGIN { printf "gw_cpu_pct=%.0f gw_us_per_req=%.1f gw_ctxsw_per_req=%.1f beam_cpu_pct=%.0f", 100 * g / hz / w, (ok > 0 ? 1e6 * g / hz / ok : 0), (ok > 0 ? x / ok : 0), 100 * b / hz / w }') \
rss_mib=$(($(rss_kib "$GATEWAY_PID" VmRSS) / 1024)) hwm_mib=$(($(rss_kib "$GATEWAY_PID" VmHWM) / 1024)) \
$(cpu_busy_pct "$s0" "$s1" "$win" $((CORE_GATEWAY == CORE_LOAD ? g1 - g0 : 0)) "$ok") wall_s=$(printf %.1f "$secs")"
}

field() { sed -nE "s/.*[ ^]$1=([^ ]+).*/\1/p" <<<" $2" | head -1; }

# drain_count: deletes this config's queues and exchange; prints the total message count.
drain_count() {
  local args=() q
  for q in "${Q_NAMES[@]}"; do args+=(--queue "$q"); done
  taskset -c "$CORE_LOAD" "$CEILING" drain-count --url "$AMQP_URL" "${args[@]}" --exchange "$X_NAME" |
    awk '$1 == "total" { print $2 }'
}

# gateway_webhooks RUN N TOPOLOGY [DELAY_MS] -> emits a webhooks (or latency_gw) line; sets LAST_RATE.
gateway_webhooks() {
  local run=$1 n=$2 topo=$3 delay=${4:-0} kind=webhooks cfg la line queued accepted spooled dup events
  [[ $delay != 0 ]] && kind=latency_gw
  la=$(loadavg)
  write_config "wh-$run-$n-${topo/:/-}-$delay" "$AMQP_URL" "$topo"
  start_gateway "$CFG"
  events=1; [[ ${topo##*:} -gt 1 ]] && events=${topo##*:}
  WRK_PATH=/hooks/github
  line=$(run_wrk "$n" "$WORK/webhook.lua" /hooks/github "$WORK/body.json" "$SIG" "b$run-$n-$SEQ" "$DURATION" "$delay" "$events")
  accepted=$(outcome github accepted); spooled=$(outcome github spooled); dup=$(outcome github duplicate)
  local cp99
  cp99=$(confirm_p99)
  stop_gateway
  queued=$(drain_count)
  local ok match
  ok=$(field ok "$line")
  match=no; [[ $queued == "$ok" ]] && match=yes
  emit "$kind run=$run n=$n topo=$topo delay_ms=$delay load1=$la ${line#wrk } gw_accepted=$accepted gw_spooled=$spooled gw_duplicate=$dup gw_confirm_p99_le_ms=$cp99 queued=$queued queue_matches_2xx=$match"
  LAST_RATE=$(field req_per_s "$line")
}

# --- 5. the runs -----------------------------------------------------------------------------------
{
  echo "date_utc=$STAMP"
  echo "host=$(hostname) kernel=$(uname -r) cpus=$(nproc) cpu_model=\"$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)\" mem_gib=$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
  echo "core_split broker=cpu$CORE_BROKER gateway=cpu$CORE_GATEWAY load_generator=cpu$CORE_LOAD"
  echo "rabbitmq=$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo '?') erlang=$(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null || echo '?') wrk=\"$(wrk -v 2>&1 | head -1)\" rustc=\"$(rustc --version)\""
  echo "git=$(git rev-parse --short HEAD 2>/dev/null || echo '?') dirty_files=$(git status --porcelain 2>/dev/null | wc -l)"
  echo "command=\"RUNS=$RUNS DURATION=$DURATION NS='$NS' TOPOLOGIES='$TOPOLOGIES' GW_TOPOLOGIES='$GW_TOPOLOGIES' OM_CONNS=$OM_CONNS STEPS='$STEPS' PROFILE=$PROFILE${CONTRACT_N:+ CONTRACT_N=$CONTRACT_N CONTRACT_TOPOLOGIES='$CONTRACT_TOPOLOGIES' CONTRACT_VARIANTS='$CONTRACT_VARIANTS' CONTRACT_GATEWAYS='$CONTRACT_GATEWAYS' BROKER_TIMELINE=${BROKER_TIMELINE:-0}} scripts/bench.sh\""
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" | tee -a "$OUT/bench.log" >&2

for ((run = 1; run <= RUNS; run++)); do
  log "=== run $run of $RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg)) ==="

  if has_step ceiling; then
    for topo in $TOPOLOGIES; do
      for n in $NS; do
        la=$(loadavg)
        line=$(taskset -c "$CORE_LOAD" "$CEILING" run --url "$AMQP_URL" --in-flight "$n" \
          --duration-s "$DURATION" --queue-type "${topo%%:*}" --queues "${topo##*:}" --prefix "hgbench-$$" 2>&1 |
          tee -a "$WORK/ceiling.out" | grep '^ceiling ' || true)
        [[ -n $line ]] || { tail -5 "$WORK/ceiling.out"; die "confirm_ceiling failed"; }
        emit "ceiling run=$run n=$n topo=$topo load1=$la ${line#ceiling }"
      done
    done
  fi

  declare -A MAXRATE=()
  if has_step webhooks; then
    for topo in $GW_TOPOLOGIES; do
      for n in $NS; do
        gateway_webhooks "$run" "$n" "$topo"
        MAXRATE[$topo:$n]=$LAST_RATE
      done
    done
  fi

  if has_step latency; then
    topo=${GW_TOPOLOGIES%% *}
    max=${MAXRATE[$topo:64]:-}
    if [[ -z $max ]]; then
      gateway_webhooks "$run" 64 "$topo"; max=$LAST_RATE
    fi
    half=$(awk -v r="$max" 'BEGIN { printf "%.0f", r / 2 }')
    # Per connection: one request every 64/half s; wrk waits a uniform 0..2*delay after each
    # answer, so the mean delay is the interval minus a typical answer time (taken as 2 ms).
    delay=$(awk -v h="$half" 'BEGIN { d = 64 * 1000 / h - 2; if (d < 1) d = 1; printf "%.0f", d }')
    gateway_webhooks "$run" 64 "$topo" "$delay"
    la=$(loadavg)
    # The raw publisher paced at the rate the gateway actually achieved.
    line=$(taskset -c "$CORE_LOAD" "$CEILING" run --url "$AMQP_URL" --in-flight 64 --rate "$LAST_RATE" \
      --duration-s "$DURATION" --queue-type "${topo%%:*}" --queues "${topo##*:}" --prefix "hgbench-$$" 2>&1 |
      tee -a "$WORK/ceiling.out" | grep '^ceiling ' || true)
    [[ -n $line ]] || die "confirm_ceiling (paced) failed"
    emit "latency_raw run=$run n=64 topo=$topo half_of_max=$half load1=$la ${line#ceiling }"
  fi

  if has_step om; then
    for topo in $GW_TOPOLOGIES; do
      for k in 10 100; do
        la=$(loadavg)
        write_config "om-$run-$k-${topo/:/-}" "$AMQP_URL" "$topo"
        start_gateway "$CFG"
        WRK_PATH=/salesforce/outbound
        tag=$(printf '04l%02d' $(((run * 7 + SEQ) % 100)))
        line=$(run_wrk "$OM_CONNS" "$WORK/om.lua" /salesforce/outbound "$WORK/om_$k.xml" "$tag" "$DURATION" 0)
        accepted=$(outcome salesforce accepted)
        cp99=$(confirm_p99)
        stop_gateway
        queued=$(drain_count)
        ok=$(field ok "$line"); secs=$(field secs "$line")
        match=no; [[ $queued == $((ok * k)) ]] && match=yes
        nps=$(awk -v o="$ok" -v k="$k" -v s="$secs" 'BEGIN { printf "%.1f", o * k / s }')
        emit "om run=$run notifications=$k conns=$OM_CONNS topo=$topo load1=$la notif_per_s=$nps ${line#wrk } gw_accepted=$accepted gw_confirm_p99_le_ms=$cp99 queued=$queued queue_matches_2xx=$match"
      done
    done
  fi

  if has_step spool; then
    for n in $NS; do
      la=$(loadavg)
      write_config "spool-$run-$n" "amqp://guest:guest@127.0.0.1:$CLOSED_PORT/%2f" "quorum:1"
      cfg=$CFG
      start_gateway "$cfg" 0
      WRK_PATH=/hooks/github
      line=$(run_wrk "$n" "$WORK/webhook.lua" /hooks/github "$WORK/body.json" "$SIG" "s$run-$n-$SEQ" "$DURATION" 0 1)
      spooled=$(outcome github spooled)
      stop_gateway
      depth=$(taskset -c "$CORE_LOAD" "$BIN" spool status --config "$cfg" | awk '$1 == "messages:" { print $2 }')
      ok=$(field ok "$line")
      match=no; [[ $depth == "$ok" ]] && match=yes
      emit "spool run=$run n=$n load1=$la ${line#wrk } gw_spooled=$spooled spool_depth=$depth spool_matches_2xx=$match"
      rm -f "$WORK"/spool-"$run"-"$n".*.redb
    done
  fi

  if has_step contract; then
    contract_step "$run"
  fi

  if has_step idle; then
    # 1,000 and 10,000 over TLS, then 10,000 in plain HTTP (server.plaintext) to tell what
    # TLS costs per connection.
    for variant in 1000:tls 10000:tls 10000:plain; do
      count=${variant%%:*} mode=${variant##*:}
      la=$(loadavg)
      # hyper's header_read_timeout also closes idle keep-alive connections (10 s by
      # default): raised here so that all of them are open when the RSS is read.
      EXTRA_SERVER="header_read_timeout_ms = 120000"
      write_config "idle-$run-$count-$mode" "$AMQP_URL" "quorum:1"
      EXTRA_SERVER=
      if [[ $mode == plain ]]; then
        # No TLS: drop the [server.tls] table, serve plain HTTP.
        python3 - "$CFG" <<'PY'
import re, sys
p = sys.argv[1]
t = open(p).read()
t = re.sub(r"\[server\.tls\]\ncert = .*\nkey = .*\n", "", t)
t = t.replace("[server]\n", "[server]\nplaintext = true\n", 1)
open(p, "w").write(t)
PY
        "$BIN" check-config --config "$CFG" >/dev/null || die "plaintext config invalid"
      fi
      start_gateway "$CFG"
      sleep 1
      base=$(($(rss_kib "$GATEWAY_PID" VmRSS) / 1024))
      fds0=$(ls "/proc/$GATEWAY_PID/fd" | wc -l)
      idle_out=$WORK/idle-$run-$count-$mode.out
      : >"$idle_out"
      local_tls=(--ca "$WORK/certs/dev-ca.pem")
      [[ $mode == plain ]] && local_tls=(--plaintext)
      taskset -c "$CORE_LOAD" "$IDLE" --addr "127.0.0.1:$LISTEN_PORT" "${local_tls[@]}" \
        --count "$count" --hold-s 8 >>"$idle_out" 2>&1 &
      CHILD_PID=$!
      for ((i = 0; i < 600; i++)); do grep -q '^open ' "$idle_out" && break; sleep 0.1; done
      sleep 2
      held=$(($(rss_kib "$GATEWAY_PID" VmRSS) / 1024))
      conns_at_sample=$(($(ls "/proc/$GATEWAY_PID/fd" | wc -l) - fds0))
      wait "$CHILD_PID" || true
      CHILD_PID=
      stop_gateway
      queued=$(drain_count)
      emit "idle run=$run connections=$count mode=$mode load1=$la baseline_rss_mib=$base rss_mib=$held open_at_sample=$conns_at_sample kib_per_conn=$(( (held - base) * 1024 / (conns_at_sample > 0 ? conns_at_sample : 1) )) $(grep -E '^(open|still_open)' "$idle_out" | tr '\n' ' ' | sed -E 's/open ([0-9]+) failed ([0-9]+) secs ([0-9.]+)/opened=\1 failed=\2 open_secs=\3/; s/still_open /still_open=/')"
    done
  fi
done

# --- 6. profile (optional) ---------------------------------------------------------------------------
if [[ $PROFILE == 1 ]] && command -v perf >/dev/null; then
  log "profile: perf record of the gateway during webhooks N=64 (${GW_TOPOLOGIES%% *}, wrk delay ${PROFILE_DELAY_MS:-0} ms)"
  topo=${GW_TOPOLOGIES%% *}
  write_config "profile" "$AMQP_URL" "$topo"
  start_gateway "$CFG"
  WRK_PATH=/hooks/github
  (sleep 2; perf record -F 499 --call-graph dwarf,16384 -o "$WORK/perf.data" -p "$GATEWAY_PID" -- sleep $((DURATION - 4)) \
    >"$WORK/perf-record.out" 2>&1) &
  CHILD_PID=$!
  run_wrk 64 "$WORK/webhook.lua" /hooks/github "$WORK/body.json" "$SIG" "p-$SEQ" "$DURATION" "${PROFILE_DELAY_MS:-0}" 1 >"$OUT/profile-run.txt"
  wait "$CHILD_PID" || true
  CHILD_PID=
  stop_gateway
  drain_count >/dev/null
  perf report -i "$WORK/perf.data" --no-children --sort symbol --percent-limit 0.3 --stdio 2>/dev/null |
    grep -v '^$' >"$OUT/profile-self.txt" || true
  perf report -i "$WORK/perf.data" --children --sort symbol --percent-limit 2 --stdio -g none 2>/dev/null |
    grep -v '^$' >"$OUT/profile-children.txt" || true
  perf script -i "$WORK/perf.data" 2>/dev/null |
    python3 "$WORK/fold.py" "$OUT/profile-folded.txt" "$OUT/profile-summary.txt" || true
  log "profile written: $OUT/profile-summary.txt (subsystems, threads, leaf symbols), profile-folded.txt, profile-self.txt"
fi

# --- 7. summary with medians and ratios -----------------------------------------------------------------
summarize "$RESULTS" "$OUT/machine.txt" >"$OUT/summary.md"
contract_summary "$RESULTS" >>"$OUT/summary.md"
cat "$OUT/summary.md"
log "results: $RESULTS; summary: $OUT/summary.md"
