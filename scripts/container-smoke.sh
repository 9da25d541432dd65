#!/usr/bin/env bash
# Container smoke test of the image (Dockerfile): build it, run the gateway in
# it with its baked config (config/container.toml) against a RabbitMQ on
# 127.0.0.1:5672 (--network host), wait for the image's HEALTHCHECK
# (`hookgate healthcheck`) to pass, POST one signed webhook (2xx expected),
# check the state landed on the volume /var/lib/hookgate, stop the container
# by its id (exit 0 expected) and remove what it made.
#
# Usage: scripts/container-smoke.sh        (from anywhere; needs root for podman)
#
# Environment (all optional):
#   ENGINE           podman or docker (default: podman if installed, else docker
#                    when `docker info` reaches a daemon)
#   SMOKE_FROM_HOST  1: build the image's last stage from this host instead of
#                    the registry's base images (below); 0: never; default auto:
#                    when the Dockerfile does not build
#   HOOKGATE_BIN     with SMOKE_FROM_HOST: the binary to put in the image
#                    (default: cargo build --release --locked --bin hookgate)
#   AMQP_URL         default: a fresh vhost hookgate-smoke-<pid> on 127.0.0.1:5672 (guest),
#                    made with rabbitmqctl and deleted at the end, so the smoke test leaves
#                    nothing in the shared broker
#   SFSIM_BIN        the simulator binary (cargo build --locked -p sfsim): then the
#                    worker runs from the same image too (worker --config
#                    /etc/hookgate/worker.toml, sfsim on 127.0.0.1:8787 reached as
#                    sfsim:8787), must turn ready and stop with exit 0
#   KEEP=1           keep the image, container and volume for a look
#
# Needs free ports 8443 and 9090 (and 8787, 9091 with SFSIM_BIN) on this host (the container shares its
# network), curl and openssl (scripts/send-fixture.sh, scripts/gen-dev-cert.sh).
#
# What this machine allowed (the one it was written on: a Firecracker VM,
# Debian 12, root, podman 4.3.1 from Debian, no docker daemon):
#   - no registry: the Dockerfile's base images (rust:1-slim-bookworm,
#     debian:bookworm-slim) cannot be pulled, so `podman build` of the
#     Dockerfile fails at its first FROM: podman resolves `rust` by no alias and
#     registries.conf names no unqualified-search registry; `debian`, which has
#     an alias, fails on DNS (the registry's host name does not resolve). SMOKE_FROM_HOST builds the last stage from a
#     local base instead: a rootfs of the binary's shared libraries, sh, mkdir and
#     chown from this host, its CA bundle, /etc/passwd with the hookgate user (uid 10001),
#     imported as localhost/hookgate-smoke-base. Every instruction of the
#     Dockerfile's last stage is used as written except its FROM, the RUN
#     apt-get/useradd (the base has the user and the CA bundle) and COPY
#     --from=build (the binary comes from the host).
#   - crun refuses to start containers on its cgroup layout (cgroup v1 with
#     hugetlb left on the unified hierarchy: "cgroups in hybrid mode not
#     supported"): runc (Debian package runc) is used when installed.
#   - podman's default rlimits (nofile/nproc) are above what this host lets a
#     process raise to ("setrlimit RLIMIT_NPROC: Operation not permitted"): the
#     container gets nofile from this shell and nproc=4096.
#   - podman runs no health check timers without systemd (it logs "unable to
#     get systemd connection to add healthchecks", harmless here): the
#     HEALTHCHECK is run with `podman healthcheck run` (the image's command).
#   - the reqwest client of `hookgate healthcheck` must not need a CA bundle:
#     the host-built base has none (the real image installs ca-certificates).
# With those, the run passes: HEALTHCHECK healthy, POST /hooks/github 200,
# spool.redb and dedupe.redb on the volume (owned by 10001), exit 0 on
# `stop`; with SFSIM_BIN the worker container turns ready and stops with 0.
#
# It publishes to the broker's exchange `hookgate` and leaves the message in
# the quorum queue hookgate.events that the baked config declares (the names
# config/hookgate.example.toml uses too).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { echo "container-smoke: $*"; }
die() { echo "container-smoke: FAIL: $*" >&2; exit 1; }

TAG=hookgate-smoke-$$
SMOKE_VHOST=""
IMAGE=localhost/$TAG:latest
VOLUME=$TAG
tmp=$(mktemp -d)
cid=""
wid=""
sfsim_pid=""

# === engine ===
if [[ -z ${ENGINE:-} ]]; then
  if command -v podman >/dev/null 2>&1; then ENGINE=podman
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then ENGINE=docker
  else die "no container engine: install podman (apt-get install podman runc) or start a docker daemon"
  fi
fi
ENGINE_ARGS=()
BUILD_ARGS=()
RUN_ARGS=()
if [[ $ENGINE == podman ]]; then
  command -v runc >/dev/null 2>&1 && ENGINE_ARGS+=(--runtime runc)
  # OCI images drop HEALTHCHECK: build Docker-format images.
  BUILD_ARGS+=(--format docker)
  nofile=$(ulimit -Hn)
  RUN_ARGS+=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
  BUILD_ARGS+=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
else
  $ENGINE info >/dev/null 2>&1 || die "$ENGINE cannot reach a daemon"
fi
eng() { "$ENGINE" "${ENGINE_ARGS[@]}" "$@"; }
log "engine: $ENGINE ${ENGINE_ARGS[*]}"

cleanup() {
  local rc=$?
  if [[ -n $cid && ${KEEP:-0} != 1 ]]; then
    if [[ $rc -ne 0 ]]; then
      echo "--- container log" >&2
      eng logs "$cid" 2>&1 | tail -40 >&2 || true
    fi
    eng rm -f "$cid" >/dev/null 2>&1 || true
  fi
  if [[ -n $wid && ${KEEP:-0} != 1 ]]; then
    [[ $rc -ne 0 ]] && { echo "--- worker container log" >&2; eng logs "$wid" 2>&1 | tail -20 >&2 || true; }
    eng rm -f "$wid" >/dev/null 2>&1 || true
  fi
  [[ -n $sfsim_pid ]] && kill "$sfsim_pid" 2>/dev/null
  if [[ ${KEEP:-0} != 1 ]]; then
    eng volume rm -f "$VOLUME" "$VOLUME-worker" >/dev/null 2>&1 || true
    eng rmi -f "$IMAGE" "localhost/$TAG-base:latest" >/dev/null 2>&1 || true
  else
    log "kept: container $cid, volume $VOLUME, image $IMAGE"
  fi
  [[ -n $SMOKE_VHOST ]] && rabbitmqctl -q delete_vhost "$SMOKE_VHOST" >/dev/null 2>&1
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

if [[ -z ${AMQP_URL:-} ]]; then
  SMOKE_VHOST=$TAG
  rabbitmqctl -q add_vhost "$SMOKE_VHOST" >/dev/null \
    && rabbitmqctl -q set_permissions -p "$SMOKE_VHOST" guest '.*' '.*' '.*' >/dev/null \
    || { echo "container-smoke: cannot make vhost $SMOKE_VHOST (rabbitmqctl)" >&2; exit 1; }
  AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$SMOKE_VHOST"
fi

# === preconditions ===
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in 8443 9090; do
  port_open "$p" && die "port $p is in use on this host (the container shares its network)"
done
port_open 5672 || die "no RabbitMQ on 127.0.0.1:5672"

# === image ===
from_host=${SMOKE_FROM_HOST:-auto}
if [[ $from_host != 1 ]]; then
  if eng build "${BUILD_ARGS[@]}" -t "$IMAGE" . >"$tmp/build.log" 2>&1; then
    from_host=0
  elif [[ $from_host == auto ]]; then
    tail -5 "$tmp/build.log" | sed 's/^/  build: /'
    log "the Dockerfile did not build (above; no registry for its base images?):" \
      "building its last stage from this host"
    from_host=1
  else
    cat "$tmp/build.log" >&2
    die "the Dockerfile did not build"
  fi
fi

if [[ $from_host == 1 ]]; then
  bin=${HOOKGATE_BIN:-}
  if [[ -z $bin ]]; then
    cargo build --release --locked --bin hookgate
    bin=${CARGO_TARGET_DIR:-$ROOT/target}/release/hookgate
  fi
  [[ -x $bin ]] || die "no binary at $bin"
  rootfs=$tmp/rootfs
  mkdir -p "$rootfs/etc" "$rootfs/tmp" "$rootfs/usr/local/bin"
  chmod 1777 "$rootfs/tmp"
  for b in "$bin" "$(command -v sh)" "$(command -v mkdir)" "$(command -v chown)"; do
    for f in $(ldd "$b" 2>/dev/null | grep -o '/[^ ]*') ; do
      mkdir -p "$rootfs$(dirname "$f")"
      cp -L "$f" "$rootfs$f"
    done
  done
  for b in sh mkdir chown; do
    src=$(command -v "$b")
    mkdir -p "$rootfs$(dirname "$src")"
    cp -L "$src" "$rootfs$src"
    [[ -e $rootfs/bin/$b ]] || { mkdir -p "$rootfs/bin"; cp -L "$src" "$rootfs/bin/$b"; }
  done
  # The CA bundle `apt-get install ca-certificates` gives the real image (the
  # worker's HTTP client loads it even for an http:// org).
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    mkdir -p "$rootfs/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
  fi
  printf 'root:x:0:0:root:/root:/bin/sh\nhookgate:x:10001:10001::/nonexistent:/usr/sbin/nologin\n' \
    >"$rootfs/etc/passwd"
  printf 'root:x:0:\nhookgate:x:10001:\n' >"$rootfs/etc/group"
  tar -C "$rootfs" -c . | eng import - "localhost/$TAG-base:latest" >/dev/null
  # The Dockerfile's last stage, with the three substitutions described above.
  ctx=$tmp/context
  mkdir -p "$ctx"
  cp -r config "$ctx/config"
  cp "$bin" "$ctx/hookgate"
  awk -v base="localhost/$TAG-base:latest" '
    /^FROM /            { stage = ""; skip = 0 }
    /^FROM /            { stage = $0 "\n"; next }
    skip && /\\$/       { next }
    skip                { skip = 0; next }
    /^RUN apt-get/      { skip = /\\$/; next }
    /^COPY --from=build/ { stage = stage "COPY hookgate /usr/local/bin/hookgate\n"; next }
                        { stage = stage $0 "\n" }
    END { sub(/^FROM [^\n]*/, "FROM " base, stage); printf "%s", stage }
  ' Dockerfile >"$ctx/Containerfile"
  grep -q '^HEALTHCHECK' "$ctx/Containerfile" || die "no HEALTHCHECK in the Dockerfile's last stage"
  log "Containerfile (the Dockerfile's last stage from a host base):"
  sed 's/^/  | /' "$ctx/Containerfile"
  eng build "${BUILD_ARGS[@]}" -q -t "$IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null
fi
log "image $IMAGE built"
user=$(eng image inspect --format '{{.Config.User}}' "$IMAGE")
[[ -n $user && $user != root && $user != 0 ]] || die "the image runs as root (User=$user)"
eng image inspect --format '{{json .Config.Volumes}}' "$IMAGE" | grep -q '/var/lib/hookgate' ||
  die "the image declares no VOLUME /var/lib/hookgate"

# === run ===
scripts/gen-dev-cert.sh "$tmp/certs" >/dev/null
chmod 755 "$tmp/certs"
chmod a+r "$tmp/certs/server.pem" "$tmp/certs/server.key"
eng volume create "$VOLUME" >/dev/null
cid=$(eng run -d "${RUN_ARGS[@]}" --network host \
  --env-file config/dev.env -e "HOOKGATE_AMQP_URL=$AMQP_URL" \
  -v "$tmp/certs:/etc/hookgate/tls:ro" -v "$VOLUME:/var/lib/hookgate" \
  "$IMAGE")
log "container ${cid:0:12} started (serve --config /etc/hookgate/hookgate.toml)"

healthy=0
for _ in $(seq 1 60); do
  if [[ $ENGINE == podman ]]; then
    eng healthcheck run "$cid" >/dev/null 2>&1 && { healthy=1; break; }
  else
    [[ $(eng inspect --format '{{.State.Health.Status}}' "$cid") == healthy ]] && { healthy=1; break; }
  fi
  [[ $(eng inspect --format '{{.State.Running}}' "$cid") == true ]] || die "the container exited"
  sleep 1
done
[[ $healthy == 1 ]] || die "HEALTHCHECK did not pass in 60 s"
log "HEALTHCHECK passed"
eng exec "$cid" /usr/local/bin/hookgate healthcheck --config /etc/hookgate/hookgate.toml

# === one signed webhook ===
out=$(HOOKGATE_CA="$tmp/certs/dev-ca.pem" scripts/send-fixture.sh github fixtures/github/push.json \
  https://127.0.0.1:8443)
code=$(tail -n1 <<<"$out")
[[ $code == 2?? ]] || die "POST /hooks/github answered $code: $out"
log "POST /hooks/github (signed): $code"

# === state on the volume, clean stop ===
if [[ $ENGINE == podman ]]; then
  mnt=$(eng volume inspect --format '{{.Mountpoint}}' "$VOLUME")
  ls -ln "$mnt" | sed 's/^/  | /'
  [[ -e $mnt/spool.redb && -e $mnt/dedupe.redb ]] || die "spool.redb and dedupe.redb not on the volume"
  log "spool and replay cache are on the volume"
fi
eng stop -t 30 "$cid" >/dev/null
status=$(eng inspect --format '{{.State.ExitCode}}' "$cid")
[[ $status == 0 ]] || die "the gateway exited $status on SIGTERM"
log "stopped ${cid:0:12} (exit 0)"

# === the worker from the same image (needs the simulator) ===
if [[ -n ${SFSIM_BIN:-} ]]; then
  port_open 8787 && die "port 8787 is in use on this host"
  port_open 9091 && die "port 9091 is in use on this host"
  "$SFSIM_BIN" 8787 --public-url http://sfsim:8787 \
    --jwt-pub fixtures/salesforce/jwt/test-rsa.pub.pem >"$tmp/sfsim.log" 2>&1 &
  sfsim_pid=$!
  eng volume create "$VOLUME-worker" >/dev/null
  wid=$(eng run -d "${RUN_ARGS[@]}" --network host --add-host sfsim:127.0.0.1 \
    --env-file config/dev.env -e "HOOKGATE_AMQP_URL=$AMQP_URL" \
    -v "$ROOT/fixtures/salesforce/jwt/test-rsa.key:/etc/hookgate/salesforce/private.key:ro" \
    -v "$VOLUME-worker:/var/lib/hookgate" \
    "$IMAGE" worker --config /etc/hookgate/worker.toml)
  log "worker container ${wid:0:12} started (worker --config /etc/hookgate/worker.toml)"
  ready=0
  for _ in $(seq 1 60); do
    eng exec "$wid" /usr/local/bin/hookgate healthcheck --config /etc/hookgate/worker.toml \
      >/dev/null 2>&1 && { ready=1; break; }
    [[ $(eng inspect --format '{{.State.Running}}' "$wid") == true ]] || break
    sleep 1
  done
  [[ $ready == 1 ]] || die "the worker did not become ready"
  log "worker: hookgate healthcheck --config /etc/hookgate/worker.toml passed"
  eng stop -t 60 "$wid" >/dev/null
  status=$(eng inspect --format '{{.State.ExitCode}}' "$wid")
  [[ $status == 0 ]] || die "the worker exited $status on SIGTERM"
  log "stopped the worker ${wid:0:12} (exit 0)"
else
  log "worker: skipped (set SFSIM_BIN to the simulator binary: cargo build -p sfsim)"
fi
log "PASS"
