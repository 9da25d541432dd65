# Sourced by scripts/bench.sh: the `contract` step (issue #20, docs/performance.md "The
# message contract's cost to the broker"): what each part of hookgate's message costs the
# broker, A/B within one run.
#
# raw     examples/confirm_ceiling at N=CONTRACT_N for each variant of CONTRACT_VARIANTS
#         on each topology of CONTRACT_TOPOLOGIES (same broker core, same client core as
#         the ceiling step): the full message against parts of it;
# gateway hookgate and examples/proto_gateway (hyper + rustls + lapin, nothing else) under
#         the same wrk load as the webhooks step, at N=CONTRACT_N, for each entry of
#         CONTRACT_GATEWAYS on the first topology: hookgate as shipped, hookgate with
#         `[amqp] cloudevents = "off"`, the prototype publishing hookgate's message and the
#         prototype publishing a bare message straight to the queue; `hookgate_base` is
#         hookgate again, but the binary BASE_GATEWAY_BIN (an earlier build: #14's "no
#         regression", before and after in one run); `hookgate_chN` is hookgate with
#         `[amqp] channels = N` (N publishing groups at once).
# The order of the variants is reversed in even runs (drift hits both ends alike).
# BROKER_TIMELINE=1 also samples the broker every 50 ms during each measurement
# (contract-broker.<seq>.txt: connection and channel flow states, the longest process
# mailbox, scheduler run queue) and confirm_ceiling writes its own 50 ms confirm-latency
# timeline (contract-timeline.<seq>.txt). CONTRACT_PROFILE=1 writes a CPU profile of each
# gateway (profile-<gateway>-<run>-summary.txt and -folded.txt, as PROFILE=1 does for hookgate).
#
# Uses from bench.sh: WORK, OUT, DURATION, GRACE, CORE_*, AMQP_URL, LISTEN_PORT, CEILING,
# PROTO, BIN, NODE, RABBITMQ_BIN_DIR, SIG, emit, log, die, loadavg, field, write_config,
# start_gateway, stop_gateway, run_wrk, drain_count, outcome, wait_gone.

CONTRACT_N=${CONTRACT_N:-256}
CONTRACT_TOPOLOGIES=${CONTRACT_TOPOLOGIES-"quorum:1 classic:1"}
CONTRACT_VARIANTS=${CONTRACT_VARIANTS-"full direct no_mandatory typed_time no_traceparent no_dup no_cloudevents no_headers no_props bare"}
CONTRACT_GATEWAYS=${CONTRACT_GATEWAYS-"hookgate hookgate_ce_off proto_contract proto_bare"}

# contract_flags VARIANT: confirm_ceiling / proto_gateway flags of a variant.
# drop:NAME leaves out one header (e.g. drop:cloudEvents:id); headers_only: no properties;
# noprop:NAME: no headers and without property NAME (content_type, message_id, timestamp,
# type, app_id); szN:VARIANT: VARIANT with an N-byte body instead of 1,024.
contract_flags() {
  case $1 in
    full) ;;
    direct) echo "--exchange-kind direct" ;;
    no_mandatory) echo "--no-mandatory" ;;
    typed_time) echo "--typed-time" ;;
    no_traceparent) echo "--drop-header traceparent" ;;
    no_dup) echo "--drop-header dup" ;;
    no_cloudevents) echo "--drop-header cloudevents" ;;
    no_headers) echo "--drop-header all" ;;
    no_props) echo "--no-properties --drop-header all" ;;
    bare) echo "--exchange-kind default --no-mandatory --no-properties --drop-header all" ;;
    drop:*) echo "--drop-header ${1#drop:}" ;;
    headers_only) echo "--no-properties" ;;
    noprop:*) echo "--drop-header all --drop-property ${1#noprop:}" ;;
    sz*:*) local rest=${1#sz}; echo "--size ${rest%%:*} $(contract_flags "${rest#*:}")" ;;
    *) die "unknown contract variant $1" ;;
  esac
}

# contract_order RUN WORDS...: the words, reversed when RUN is even.
contract_order() {
  local run=$1; shift
  if ((run % 2 == 0)); then printf '%s\n' "$@" | tac | tr '\n' ' '; else echo "$*"; fi
}

# broker_sampler FILE SECONDS: in the background, every 50 ms for SECONDS, one line of the
# private node's state: ms since start, connections by state (running/flow/blocked), channels
# in flow, the longest process mailbox (length, registered name or initial call), the
# schedulers' run queue. Returns once the sampler runs inside the node (the CLI's own start
# costs a second of CPU: not during the measurement). Sets CONTRACT_SAMPLER (its PID).
broker_sampler() {
  local file=$1 secs=$2 i
  rm -f "$file.started"
  local erl="
    file:write_file(\"$file.started\", <<>>),
    End = erlang:monotonic_time(millisecond) + $secs * 1000,
    State = fun(P, M) -> try M:info(P, [state]) of [{state, S}] -> S catch _:_ -> gone end end,
    Count = fun(L) -> lists:foldl(fun(S, A) -> maps:update_with(S, fun(N) -> N + 1 end, 1, A) end, #{}, L) end,
    Who = fun(P) -> case erlang:process_info(P, [registered_name, initial_call, dictionary]) of
        [{registered_name, R}, _, _] when is_atom(R), R =/= [] -> R;
        [_, _, {dictionary, D}] -> case proplists:get_value('\$initial_call', D) of
            {M, F, _} -> {M, F}; _ -> unknown end;
        _ -> gone end end,
    Longest = fun() -> lists:foldl(fun(P, {L, W}) ->
        case erlang:process_info(P, message_queue_len) of
          {message_queue_len, N} when N > L -> {N, P}; _ -> {L, W} end end,
        {0, none}, erlang:processes()) end,
    Loop = fun Loop(Acc) ->
      Now = erlang:monotonic_time(millisecond),
      case Now >= End of
        true -> lists:reverse(Acc);
        false ->
          Conns = Count([State(P, rabbit_reader) || P <- rabbit_networking:connections_local()]),
          Chans = Count([State(P, rabbit_channel) || P <- rabbit_channel:list_local()]),
          {L, W} = Longest(),
          Line = io_lib:format(\"~.3f conns=~w chans=~w longest_mailbox=~w ~w run_queue=~w~n\",
            [erlang:system_time(microsecond) / 1.0e6, Conns, Chans, L, case W of none -> none; _ -> Who(W) end,
             erlang:statistics(total_run_queue_lengths)]),
          timer:sleep(50),
          Loop([Line | Acc])
      end
    end,
    file:write_file(\"$file\", Loop([])), ok."
  env -i HOME="$NODE_DIR" PATH="$PATH" LANG=C.UTF-8 \
    timeout $((secs + 30)) "$RABBITMQ_BIN_DIR/rabbitmqctl" -q -n "$NODE" eval "$erl" >>"$WORK/sampler.out" 2>&1 &
  CONTRACT_SAMPLER=$!
  # The broker VM's threads every 50 ms: CPU time used and time spent runnable but waiting
  # for a CPU (/proc/PID/task/*/schedstat), as ms per interval; and the quorum queues' newest
# write-ahead log file and segment file count (a WAL roll-over starts a segment flush).
  python3 - "$BEAM" "$secs" "$NODE_DIR" >"$file.cpu" 2>/dev/null <<'PY' &
import glob, os, sys, time
pid, secs, node_dir = sys.argv[1], float(sys.argv[2]), sys.argv[3]
def ra_files():
    wal = sorted(glob.glob(f"{node_dir}/mnesia/**/*.wal", recursive=True))
    seg = glob.glob(f"{node_dir}/mnesia/**/*.segment", recursive=True)
    return (os.path.basename(wal[-1]) if wal else "-"), len(seg)
def read():
    run = wait = 0
    for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            a, b, _ = open(f).read().split()
        except (OSError, ValueError):
            continue
        run += int(a); wait += int(b)
    return run, wait
end = time.time() + secs
prev = read()
while time.time() < end:
    time.sleep(0.05)
    cur = read()
    wal, seg = ra_files()
    print(f"{time.time():.3f} beam_cpu_ms={(cur[0] - prev[0]) / 1e6:.1f} beam_wait_ms={(cur[1] - prev[1]) / 1e6:.1f} wal={wal} segments={seg}", flush=True)
    prev = cur
PY
  CONTRACT_CPU=$!
  CONTRACT_PERF=
  if command -v perf >/dev/null; then
    # The broker's fsync/fdatasync calls (tracepoints: cheap), on CLOCK_MONOTONIC; the
    # offset to Unix time is written beside them.
    python3 -c 'import time; print(time.time() - time.clock_gettime(time.CLOCK_MONOTONIC))' >"$file.clock"
    perf record -q -k CLOCK_MONOTONIC -p "$BEAM" -o "$file.perf" \
      -e syscalls:sys_enter_fdatasync -e syscalls:sys_exit_fdatasync \
      -e syscalls:sys_enter_fsync -e syscalls:sys_exit_fsync -- sleep "$secs" >>"$WORK/sampler.out" 2>&1 &
    CONTRACT_PERF=$!
  fi
  for ((i = 0; i < 300; i++)); do
    [[ -e $file.started ]] && { rm -f "$file.started"; return 0; }
    kill -0 "$CONTRACT_SAMPLER" 2>/dev/null || { tail -5 "$WORK/sampler.out"; die "broker sampler failed"; }
    sleep 0.05
  done
  die "broker sampler did not start"
}

# sampler_done FILE [CLIENT_TIMELINE]: waits for the sampler and perf, then writes
# FILE.merged: per 50 ms (Unix time), the client's confirms and latency (when a client
# timeline is given), the broker's connection/channel states, longest mailbox, and the
# fsync/fdatasync calls that ended in it with the longest one's duration.
sampler_done() {
  local file=$1 client=${2:-}
  [[ -n $CONTRACT_SAMPLER ]] && { wait "$CONTRACT_SAMPLER" 2>/dev/null || true; }
  [[ -n ${CONTRACT_PERF:-} ]] && { wait "$CONTRACT_PERF" 2>/dev/null || true; }
  [[ -n ${CONTRACT_CPU:-} ]] && { wait "$CONTRACT_CPU" 2>/dev/null || true; }
  local syncs=$file.syncs
  : >"$syncs"
  [[ -s $file.perf ]] && perf script -i "$file.perf" -F tid,time,event 2>/dev/null >"$syncs"
  python3 - "$file" "$syncs" "$file.clock" "$client" "$file.cpu" >"$file.merged" <<'PY' || true
import collections, re, sys
broker, syncs, clock, client, cpu = sys.argv[1:6]
B = 0.05
rows = collections.defaultdict(dict)
for line in open(broker):
    t, rest = line.split(" ", 1)
    rows[int(float(t) / B)]["broker"] = rest.strip()
try:
    offset = float(open(clock).read())
except (OSError, ValueError):
    offset = None
enter = {}
if offset is not None:
    for line in open(syncs):
        m = re.match(r"\s*(\d+)\s+([\d.]+):\s+syscalls:sys_(enter|exit)_(\w+)", line)
        if not m:
            continue
        tid, t, kind = m.group(1), float(m.group(2)) + offset, m.group(3)
        if kind == "enter":
            enter[tid] = t
        elif tid in enter:
            d = (t - enter.pop(tid)) * 1000
            r = rows[int(t / B)]
            r["n_sync"] = r.get("n_sync", 0) + 1
            r["max_sync"] = max(r.get("max_sync", 0.0), d)
for line in open(cpu):
    t, rest = line.split(" ", 1)
    rows[int(float(t) / B)]["cpu"] = rest.strip()
if client:
    for line in open(client):
        if line.startswith("#"):
            continue
        u, _t, n, p50, p99, mx = line.split()
        rows[int(float(u) / B)]["client"] = f"confirms={n} p50={p50} p99={p99} max={mx}"
print("# unix_s | client (per 50 ms of publish time: confirms, latency ms) | fsyncs ended (n, longest ms) | broker VM CPU (used, waiting for a CPU) | broker")
for k in sorted(rows):
    r = rows[k]
    sync = f"fsync n={r['n_sync']} max={r['max_sync']:.1f}" if "n_sync" in r else "fsync n=0"
    print(f"{k * B:.2f} | {r.get('client', '-')} | {sync} | {r.get('cpu', '-')} | {r.get('broker', '-')}")
PY
}

# contract_raw RUN TOPOLOGY VARIANT: one confirm_ceiling measurement, emitted as contract_raw.
contract_raw() {
  local run=$1 topo=$2 variant=$3 la line tl=()
  SEQ=$((SEQ + 1))
  la=$(loadavg)
  CONTRACT_SAMPLER=
  if [[ ${BROKER_TIMELINE:-0} == 1 ]]; then
    broker_sampler "$OUT/contract-broker.$SEQ.txt" "$((DURATION + 2))"
    tl=(--timeline "$OUT/contract-timeline.$SEQ.txt")
  fi
  # shellcheck disable=SC2046 # the flags are words
  line=$(taskset -c "$CORE_LOAD" "$CEILING" run --url "$AMQP_URL" --in-flight "$CONTRACT_N" \
    --duration-s "$DURATION" --queue-type "${topo%%:*}" --queues "${topo##*:}" --prefix "hgbench-$$" \
    "${tl[@]}" $(contract_flags "$variant") 2>&1 | tee -a "$WORK/ceiling.out" | grep '^ceiling ' || true)
  [[ -n $CONTRACT_SAMPLER ]] && sampler_done "$OUT/contract-broker.$SEQ.txt" "$OUT/contract-timeline.$SEQ.txt"
  [[ -n $line ]] || { tail -5 "$WORK/ceiling.out"; die "confirm_ceiling ($variant) failed"; }
  emit "contract_raw run=$run variant=$variant seq=$SEQ load1=$la topo=$topo ${line#ceiling }"
}

# start_proto VARIANT TOPOLOGY: starts examples/proto_gateway on CORE_GATEWAY with a unique
# exchange and queue (X_NAME, Q_NAMES for drain_count); sets GATEWAY_PID.
start_proto() {
  local variant=$1 topo=$2 i
  SEQ=$((SEQ + 1))
  X_NAME="hgbench.$$.$SEQ.x"
  Q_NAMES=("hgbench.$$.$SEQ.q0")
  # shellcheck disable=SC2046
  taskset -c "$CORE_GATEWAY" "$PROTO" --listen "127.0.0.1:$LISTEN_PORT" \
    --cert "$WORK/certs/server.pem" --key "$WORK/certs/server.key" --url "$AMQP_URL" \
    --exchange "$X_NAME" --queue "${Q_NAMES[0]}" --queue-type "${topo%%:*}" \
    $(contract_flags "$variant") </dev/null >>"$WORK/proto.log" 2>&1 &
  GATEWAY_PID=$!
  for ((i = 0; i < 150; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$LISTEN_PORT") 2>/dev/null && return 0
    kill -0 "$GATEWAY_PID" 2>/dev/null || { tail -5 "$WORK/proto.log"; die "proto_gateway exited"; }
    sleep 0.1
  done
  die "proto_gateway did not listen"
}

# contract_gateway RUN TOPOLOGY WHICH: one wrk measurement of hookgate (hookgate,
# hookgate_ce_off) or the prototype (proto_contract, proto_bare); emitted as contract_gw.
contract_gateway() {
  local run=$1 topo=$2 which=$3 la line queued ok match extra= sampler_seq
  la=$(loadavg)
  case $which in
    hookgate) write_config "ct-$run-$which" "$AMQP_URL" "$topo"; start_gateway "$CFG" ;;
    hookgate_ce_off)
      EXTRA_AMQP='cloudevents = "off"' write_config "ct-$run-$which" "$AMQP_URL" "$topo"
      start_gateway "$CFG" ;;
    hookgate_ch*)
      AMQP_CHANNELS=${which#hookgate_ch} write_config "ct-$run-$which" "$AMQP_URL" "$topo"
      start_gateway "$CFG" ;;
    hookgate_base)
      [[ -x ${BASE_GATEWAY_BIN:-} ]] || die "hookgate_base needs BASE_GATEWAY_BIN (an executable)"
      BIN=$BASE_GATEWAY_BIN write_config "ct-$run-$which" "$AMQP_URL" "$topo"
      BIN=$BASE_GATEWAY_BIN start_gateway "$CFG" ;;
    proto_contract) start_proto full "$topo" ;;
    proto_bare) start_proto bare "$topo" ;;
    *) die "unknown contract gateway $which" ;;
  esac
  sampler_seq=$SEQ
  CONTRACT_SAMPLER=
  [[ ${BROKER_TIMELINE:-0} == 1 ]] && broker_sampler "$OUT/contract-broker.$sampler_seq.txt" "$((DURATION + GRACE))"
  WRK_PATH=/hooks/github
  local prof=
  if [[ ${CONTRACT_PROFILE:-0} == 1 ]] && command -v perf >/dev/null; then
    # CPU profile of the gateway (hookgate or the prototype) during the load, from 2 s in.
    (sleep 2; perf record -F 499 --call-graph dwarf,16384 -o "$WORK/perf-$which-$run.data" -p "$GATEWAY_PID" \
      -- sleep $((DURATION - 4)) >"$WORK/perf-record.out" 2>&1) &
    prof=$!
  fi
  line=$(run_wrk "$CONTRACT_N" "$WORK/webhook.lua" /hooks/github "$WORK/body.json" "$SIG" "c$run-$SEQ" "$DURATION" 0 1)
  if [[ -n $prof ]]; then
    wait "$prof" || true
    perf script -i "$WORK/perf-$which-$run.data" 2>/dev/null |
      python3 "$WORK/fold.py" "$OUT/profile-$which-$run-folded.txt" "$OUT/profile-$which-$run-summary.txt" || true
  fi
  [[ -n $CONTRACT_SAMPLER ]] && sampler_done "$OUT/contract-broker.$sampler_seq.txt"
  if [[ $which == hookgate* ]]; then
    extra="gw_accepted=$(outcome github accepted) gw_spooled=$(outcome github spooled)"
  fi
  stop_gateway
  queued=$(drain_count)
  ok=$(field ok "$line")
  match=no; [[ $queued == "$ok" ]] && match=yes
  emit "contract_gw run=$run which=$which seq=$sampler_seq load1=$la topo=$topo n=$CONTRACT_N ${line#wrk } $extra queued=$queued queue_matches_2xx=$match"
}

# contract_step RUN
contract_step() {
  local run=$1 topo v
  for topo in $CONTRACT_TOPOLOGIES; do
    # shellcheck disable=SC2046
    for v in $(contract_order "$run" $CONTRACT_VARIANTS); do contract_raw "$run" "$topo" "$v"; done
  done
  topo=${CONTRACT_TOPOLOGIES%% *}; topo=${topo:-quorum:1}
  # shellcheck disable=SC2046
  for v in $(contract_order "$run" $CONTRACT_GATEWAYS); do contract_gateway "$run" "$topo" "$v"; done
}

# contract_summary RESULTS: markdown tables (medians over runs; ratios within each run), and
# with BROKER_TIMELINE=1 each stall (a 50 ms bucket whose confirms took over 100 ms) of the raw
# publisher with the nearest quorum WAL roll-over.
contract_summary() {
  python3 - "$1" <<'PY'
import statistics, sys
rows = []
for line in open(sys.argv[1]):
    kind, *kv = line.split()
    d = {"kind": kind, **dict(i.partition("=")[::2] for i in kv)}
    rows.append(d)
raw = [r for r in rows if r["kind"] == "contract_raw"]
gw = [r for r in rows if r["kind"] == "contract_gw"]
f = lambda v: float(v)
def med(xs):
    return statistics.median(xs) if xs else None
def fmt(v, p=1):
    return "-" if v is None else f"{v:,.{p}f}"
if raw:
    print("## Message contract A/B: raw publisher (confirm_ceiling), medians\n")
    print("| topology | variant | msgs/s | ratio to full (per-run median) | ratio to bare | p99 ms | max ms | runs |")
    print("|---|---|---|---|---|---|---|---|")
    for topo in dict.fromkeys(r["topo"] for r in raw):
        for v in dict.fromkeys(r["variant"] for r in raw):
            sel = [r for r in raw if r["topo"] == topo and r["variant"] == v]
            ratio = lambda ref: med([f(r["msgs_per_s"]) / f(b["msgs_per_s"]) for r in sel
                                     for b in raw if b["topo"] == topo and b["variant"] == ref and b["run"] == r["run"]])
            print(f"| {topo} | {v} | {fmt(med([f(r['msgs_per_s']) for r in sel]))} | {fmt(ratio('full'), 2)} | "
                  f"{fmt(ratio('bare'), 2)} | {fmt(med([f(r['p99_ms']) for r in sel]), 1)} | "
                  f"{fmt(med([f(r['max_ms']) for r in sel]), 1)} | {len(sel)} |")
    print()
if gw:
    print("## Message contract A/B: gateways under wrk, medians\n")
    base = any(r["which"] == "hookgate_base" for r in gw)
    print("| gateway | 2xx req/s | ratio to proto_bare | ratio to proto_contract |" + (" ratio to hookgate_base |" if base else "") + " p50 ms | p99 ms | p99.9 ms | max ms | CPU us/2xx | queue = 2xx | runs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if base else ""))
    for w in dict.fromkeys(r["which"] for r in gw):
        sel = [r for r in gw if r["which"] == w]
        ratio = lambda ref: med([f(r["req_per_s"]) / f(b["req_per_s"]) for r in sel
                                 for b in gw if b["which"] == ref and b["run"] == r["run"]])
        ok = all(r.get("queue_matches_2xx") == "yes" for r in sel)
        print(f"| {w} | {fmt(med([f(r['req_per_s']) for r in sel]))} | {fmt(ratio('proto_bare'), 2)} | "
              f"{fmt(ratio('proto_contract'), 2)} | " + (f"{fmt(ratio('hookgate_base'), 2)} | " if base else "") +
              " | ".join(fmt(med([f(r[k]) for r in sel]), 1) for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms")) +
              f" | {fmt(med([f(r['gw_us_per_req']) for r in sel]), 1)} | {'yes' if ok else 'NO'} | {len(sel)} |")
    print()
import glob, os, re
merged = sorted(glob.glob(os.path.join(os.path.dirname(sys.argv[1]), "contract-broker.*.txt.merged")),
                key=lambda p: int(p.split(".")[-3]))
stalls, rolls = [], []
for path in merged:
    seq = path.split(".")[-3]
    wal = None
    for line in open(path):
        if line.startswith("#"):
            continue
        cols = line.split(" | ")
        t = float(cols[0])
        m = re.search(r"wal=(\S+)", line)
        if m and m.group(1) != "-":
            if wal and m.group(1) != wal:
                rolls.append(t)
            wal = m.group(1)
        mx = re.search(r"max=([\d.]+)", cols[1])
        if mx and float(mx.group(1)) > 100:
            stalls.append((seq, t, float(mx.group(1))))
if merged:
    print("## Stalls of the raw publisher (BROKER_TIMELINE=1)\n")
    print(f"{len(rolls)} quorum WAL roll-overs seen. A stall is a 50 ms bucket of publishes whose slowest confirm took over 100 ms.\n")
    print("| measurement (seq) | bucket (Unix s) | slowest confirm ms | nearest WAL roll-over, s after the bucket |")
    print("|---|---|---|---|")
    for seq, t, mx in stalls:
        near = min(rolls, key=lambda r: abs(r - t)) if rolls else None
        print(f"| {seq} | {t:.2f} | {mx:.0f} | {'-' if near is None else f'{near - t:+.2f}'} |")
    print()
PY
}
